import { useState, type FormEvent } from "react";
import { useAuth } from "../auth";
import { ProblemView } from "../components";

export default function Login() {
  const { signIn } = useAuth();
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <h1>tradeopt</h1>
      <form onSubmit={submit} className="card">
        <p>
          Sign in with an API key. It is exchanged for a session cookie once and not kept by the
          page; a read-only key shows no write actions.
        </p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="current-password"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
        />
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <ProblemView error={error} />
      </form>
    </main>
  );
}
