import { Link } from 'react-router';

export function NotFound() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        There is nothing here. Go to the <Link to="/journeys">journeys</Link> or the <Link to="/contacts">contacts</Link>.
      </p>
    </section>
  );
}
