/** Sign in with email and password (users: `switchback users create`). */

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Navigate, useSearchParams } from 'react-router';

import { ApiError, errorText } from '../api/client';
import { useSession, useSignIn } from '../api/session';
import { Loading } from '../components/States';

/** Only a path inside this app (never another site) is a place to go back to. */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function SignInPage() {
  const session = useSession();
  const signIn = useSignIn();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const emailRef = useRef<HTMLInputElement>(null);

  useEffect(() => emailRef.current?.focus(), []);

  if (session.isPending) return <Loading what="Checking your session" />;
  if (session.data) return <Navigate to={safeNext(params.get('next'))} replace />;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate({ email: email.trim(), password });
  };
  const failed = signIn.error;
  const message = failed instanceof ApiError && failed.status === 401
    ? 'The email or the password is wrong.'
    : failed ? errorText(failed) : null;

  return (
    <main className="sign-in" id="main">
      <form className="card" onSubmit={submit} aria-labelledby="sign-in-title" noValidate>
        <h1 id="sign-in-title">Sign in to Switchback</h1>
        <label htmlFor="email">Email</label>
        <input id="email" ref={emailRef} type="email" autoComplete="username" required value={email}
          onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="password">Password</label>
        <input id="password" type="password" autoComplete="current-password" required value={password}
          onChange={(e) => setPassword(e.target.value)} />
        {message && (
          <p className="form-error" role="alert">
            {message}
          </p>
        )}
        <button type="submit" className="primary" disabled={signIn.isPending || !email || !password}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="hint">
          No account? An admin creates one with <code>switchback users create</code>.
        </p>
      </form>
    </main>
  );
}
