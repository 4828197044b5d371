/**
 * Offers: staff redeem a token (typed, or scanned with the camera where the browser has
 * BarcodeDetector) and see a clear accepted/refused answer with the reason; look an offer
 * up; and (admin, marketer, analyst) the redemption statistics per campaign.
 */

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';

import { api, ApiError, errorText, seg } from '../api/client';
import { useUser } from '../api/session';
import type { Offer, OfferStats, Redeemed, Role } from '../api/types';
import { ErrorState, formatTime, Loading, StatusBadge } from '../components/States';
import { canScan, refusalOf, tokenFromScan } from '../offers/redeem';

const REDEEMERS: Role[] = ['admin', 'redeemer'];
const LOOKERS: Role[] = ['admin', 'marketer', 'redeemer'];
const VIEWERS: Role[] = ['admin', 'marketer', 'analyst'];

export function OffersPage() {
  const user = useUser();
  return (
    <section className="page">
      <div className="page-head"><h1>Offers</h1></div>
      {LOOKERS.includes(user.role) && <RedeemPanel canRedeem={REDEEMERS.includes(user.role)} />}
      {VIEWERS.includes(user.role) && <OfferStatsPanel />}
    </section>
  );
}

type Outcome =
  | { kind: 'redeemed'; result: Redeemed }
  | { kind: 'refused'; code: string; message: string; offer: Offer | null }
  | { kind: 'looked-up'; offer: Offer };

function RedeemPanel({ canRedeem }: { canRedeem: boolean }) {
  const [typed, setTyped] = useState('');
  const [by, setBy] = useState('');
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [scanning, setScanning] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const client = useQueryClient();
  const token = tokenFromScan(typed);

  const refused = (error: unknown) => {
    if (error instanceof ApiError) {
      const offer = (error.body.offer ?? null) as Offer | null;
      setOutcome({ kind: 'refused', code: error.code, message: error.message, offer });
    } else {
      setOutcome({ kind: 'refused', code: 'network', message: errorText(error), offer: null });
    }
  };
  const redeem = useMutation({
    mutationFn: (scanned: string) => api<Redeemed>('/v1/offers/redeem', {
      method: 'POST',
      body: { token: scanned, request_id: crypto.randomUUID(), ...(by.trim() ? { by: by.trim() } : {}) },
    }),
    onMutate: () => setOutcome(null),
    onSuccess: (result) => {
      setOutcome({ kind: 'redeemed', result });
      client.invalidateQueries({ queryKey: ['offer-stats'] });
    },
    onError: refused,
  });
  const lookUp = useMutation({
    mutationFn: (scanned: string) => api<Offer>(`/v1/offers/${seg(tokenFromScan(scanned))}`),
    onMutate: () => setOutcome(null),
    onSuccess: (offer) => setOutcome({ kind: 'looked-up', offer }),
    onError: refused,
  });
  const busy = redeem.isPending || lookUp.isPending;

  return (
    <div className="card stack redeem">
      <h2>{canRedeem ? 'Redeem an offer' : 'Look an offer up'}</h2>
      <form className="stack" aria-label="Redeem" onSubmit={(e) => {
        e.preventDefault();
        if (!token) return;
        if (canRedeem) redeem.mutate(typed);
        else lookUp.mutate(typed);
      }}>
        <div className="field">
          <label htmlFor="offer-token">Code (or the scanned link)</label>
          <input id="offer-token" ref={input} className="mono big-input" value={typed} autoFocus autoComplete="off" spellCheck={false}
            onChange={(e) => setTyped(e.target.value)} />
        </div>
        {canRedeem && (
          <div className="field">
            <label htmlFor="offer-by">Where (optional)</label>
            <input id="offer-by" value={by} placeholder="store 12, till 3" onChange={(e) => setBy(e.target.value)} />
          </div>
        )}
        <div className="actions start">
          {canRedeem && <button type="submit" className="primary" disabled={!token || busy}>{redeem.isPending ? 'Redeeming…' : 'Redeem'}</button>}
          <button type={canRedeem ? 'button' : 'submit'} disabled={!token || busy} onClick={canRedeem ? () => lookUp.mutate(typed) : undefined}>
            Look up
          </button>
          {canScan() && (
            <button type="button" onClick={() => setScanning(!scanning)} aria-pressed={scanning}>
              {scanning ? 'Stop camera' : 'Scan with camera'}
            </button>
          )}
        </div>
      </form>
      {scanning && (
        <Scanner onFound={(text) => {
          setScanning(false);
          setTyped(text);
          if (canRedeem) redeem.mutate(text);
          else lookUp.mutate(text);
        }} onError={(message) => { setScanning(false); setOutcome({ kind: 'refused', code: 'camera', message, offer: null }); }} />
      )}
      {outcome && <OutcomeView outcome={outcome} />}
    </div>
  );
}

function OutcomeView({ outcome }: { outcome: Outcome }) {
  if (outcome.kind === 'redeemed') {
    const { result } = outcome;
    return (
      <div className="outcome accepted" role="status" data-testid="redeem-outcome">
        <strong>✔ Accepted{result.replayed ? ' (already recorded)' : ''}</strong>
        <p>Use {result.use} of {result.offer.max_uses}{result.offer.value ? ` · ${result.offer.value}` : ''}
          {result.offer.description ? ` · ${result.offer.description}` : ''}</p>
        <OfferFacts offer={result.offer} />
      </div>
    );
  }
  if (outcome.kind === 'looked-up') {
    return (
      <div className={`outcome ${outcome.offer.status === 'active' ? 'accepted' : 'refused'}`} role="status" data-testid="redeem-outcome">
        <strong>Status: <StatusBadge status={outcome.offer.status} /></strong>
        <OfferFacts offer={outcome.offer} />
      </div>
    );
  }
  const refusal = outcome.code === 'camera' ? { title: 'Camera', advice: 'Type the code instead.' } : refusalOf(outcome.code);
  return (
    <div className="outcome refused" role="alert" data-testid="redeem-outcome">
      <strong>✘ Refused: {refusal.title}</strong>
      <p>{outcome.message}</p>
      <p className="small">{refusal.advice}</p>
      {outcome.offer && <OfferFacts offer={outcome.offer} />}
    </div>
  );
}

function OfferFacts({ offer }: { offer: Offer }) {
  return (
    <dl className="attributes small">
      <div><dt>Campaign</dt><dd className="mono">{offer.campaign}</dd></div>
      <div><dt>Uses</dt><dd>{offer.uses} of {offer.max_uses} ({offer.uses_left} left)</dd></div>
      <div><dt>Expires</dt><dd>{offer.expires_at ? formatTime(offer.expires_at) : 'never'}</dd></div>
      {(offer.redemptions ?? []).map((r) => (
        <div key={r.use}><dt>Use {r.use}</dt><dd>{formatTime(r.redeemed_at)} · {r.by}</dd></div>
      ))}
    </dl>
  );
}

interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}

/** The camera with BarcodeDetector (only offered where `canScan()`): the first QR code read. */
function Scanner({ onFound, onError }: { onFound: (text: string) => void; onError: (message: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const found = useRef(onFound);
  const failed = useRef(onError);
  found.current = onFound;
  failed.current = onError;
  useEffect(() => {
    let stream: MediaStream | null = null;
    let timer = 0;
    let stopped = false;
    const Make = (globalThis as unknown as { BarcodeDetector: new (o: { formats: string[] }) => Detector }).BarcodeDetector;
    const detector = new Make({ formats: ['qr_code'] });
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
        if (stopped || !video.current) return;
        video.current.srcObject = stream;
        await video.current.play();
        const tick = async () => {
          if (stopped || !video.current) return;
          const codes = await detector.detect(video.current).catch(() => []);
          if (codes.length > 0) found.current(codes[0].rawValue);
          else timer = window.setTimeout(tick, 250);
        };
        tick();
      } catch (error) {
        failed.current(`the camera cannot be used: ${(error as Error).message}`);
      }
    })();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, []);
  return <video ref={video} className="scanner" muted playsInline aria-label="Camera: hold the QR code in view" />;
}

function OfferStatsPanel() {
  const stats = useQuery({ queryKey: ['offer-stats'], queryFn: () => api<OfferStats>('/v1/offers/stats'), refetchInterval: 10_000 });
  return (
    <div className="stack spaced">
      <h2>Redemptions</h2>
      {stats.isPending && <Loading what="Loading offer statistics" />}
      {stats.isError && <ErrorState error={stats.error} retry={() => stats.refetch()} />}
      {stats.data && (
        <table className="table" data-testid="offer-stats">
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col" className="num">Issued</th>
              <th scope="col" className="num">Redeemed</th>
              <th scope="col" className="num">Uses</th>
              <th scope="col" className="num">Rate</th>
              <th scope="col">Median time to redeem</th>
            </tr>
          </thead>
          <tbody>
            {[...(stats.data.campaigns ?? []), { ...stats.data, campaign: 'All campaigns' }].map((c) => (
              <tr key={c.campaign ?? 'all'}>
                <th scope="row" className="mono">{c.campaign}</th>
                <td className="num">{c.issued}</td>
                <td className="num">{c.redeemed}</td>
                <td className="num">{c.uses}</td>
                <td className="num">{(c.redemption_rate * 100).toFixed(1)}%</td>
                <td>{c.median_time_to_redeem ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
