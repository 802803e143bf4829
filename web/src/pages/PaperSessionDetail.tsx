import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router";
import { get, post } from "../api";
import { useCanWrite } from "../auth";
import { LinesChart } from "../charts";
import { fmtNum, fmtPct, fmtTime, IdLink, KeyValues, Loading, ProblemView, Records, Section, Status, useEventStream } from "../components";
import type { Json } from "../types";

const ACTIVE = ["queued", "running"];

function rowsOf(d: unknown): Json[] {
  if (Array.isArray(d)) return d;
  if (d && typeof d === "object" && Array.isArray((d as Json).items)) return (d as Json).items;
  return [];
}

export default function PaperSessionDetail() {
  const { id } = useParams();
  const canWrite = useCanWrite();
  const client = useQueryClient();
  const session = useQuery({ queryKey: ["paper-session", id], queryFn: () => get<Json>(`/paper-sessions/${id}`) });
  const p = session.data;
  const active = !!p && ACTIVE.includes(p.status);
  const refresh = () => void client.invalidateQueries({ queryKey: ["paper", id] });
  useEventStream(
    `/api/v1/paper-sessions/${id}/events`,
    () => {
      void client.invalidateQueries({ queryKey: ["paper-session", id] });
      refresh();
    },
    active,
  );
  const poll = active ? 3000 : false;
  const equity = useQuery({ queryKey: ["paper", id, "equity"], enabled: !!p, refetchInterval: poll, queryFn: () => get<unknown>(`/paper-sessions/${id}/equity?limit=5000`) });
  const orders = useQuery({ queryKey: ["paper", id, "orders"], enabled: !!p, refetchInterval: poll, queryFn: () => get<unknown>(`/paper-sessions/${id}/orders?limit=100`) });
  const positions = useQuery({ queryKey: ["paper", id, "positions"], enabled: !!p, refetchInterval: poll, queryFn: () => get<unknown>(`/paper-sessions/${id}/positions?limit=100`) });
  const parity = useQuery({ queryKey: ["paper", id, "parity"], enabled: !!p && !active, retry: false, queryFn: () => get<Json>(`/paper-sessions/${id}/parity`) });
  const stop = useMutation({ mutationFn: () => post<Json>(`/paper-sessions/${id}/stop`), onSuccess: () => client.invalidateQueries({ queryKey: ["paper-session", id] }) });

  if (session.error) return <ProblemView error={session.error} />;
  if (!p) return <Loading what="paper session" />;
  const eq = rowsOf(equity.data);
  return (
    <>
      <h1>
        Paper session <code>{String(p.id).slice(0, 8)}</code> <Status value={p.status} />
      </h1>
      <p className="muted">
        {p.mode} · {p.broker} · {(p.symbols ?? []).join(", ")} · model <IdLink to="/models" id={p.model_id} /> · created {fmtTime(p.created_at)}
      </p>
      <Section
        title="Risk state"
        actions={
          canWrite && active ? (
            <button type="button" className="danger" onClick={() => stop.mutate()}>
              Stop session
            </button>
          ) : null
        }
      >
        <KeyValues
          data={{
            equity: fmtNum(p.equity, 2),
            cash: fmtNum(p.cash, 2),
            pnl: fmtNum(p.pnl, 2),
            realised_pnl: fmtNum(p.realised_pnl, 2),
            unrealised_pnl: fmtNum(p.unrealised_pnl, 2),
            drawdown: fmtPct(p.drawdown),
            position: (p.symbols ?? []).map((sym: string, i: number) => `${sym} ${fmtNum(p.position?.[i], 3)}`).join(", "),
            bars: p.n_bars,
            orders: p.n_orders,
            rejected: p.n_rejected,
            halted: p.halt_reason ? `${p.halt_reason} at ${fmtTime(p.halted_at)}` : "no",
            last_bar: fmtTime(p.last_t),
          }}
        />
        {p.error ? <div role="alert" className="problem">{p.error}</div> : null}
        <ProblemView error={stop.error} />
      </Section>
      <Section title="Equity">
        <ProblemView error={equity.error} />
        {eq.length ? <LinesChart series={[{ name: "equity", area: true, points: eq.map((r) => ({ t: r.t, v: r.equity })) }]} label="paper session equity" /> : <p>No bar yet.</p>}
      </Section>
      <div className="grid2">
        <Section title="Positions">
          <ProblemView error={positions.error} />
          <Records rows={rowsOf(positions.data).slice(0, 50)} />
        </Section>
        <Section title="Orders">
          <ProblemView error={orders.error} />
          <Records rows={rowsOf(orders.data).slice(0, 50)} />
        </Section>
      </div>
      {!active ? (
        <Section title="Parity with the backtest">
          <ProblemView error={parity.error} />
          {parity.data ? (
            <p role="status" aria-label="parity">
              {parity.data.n_divergences} divergences over {parity.data.bars_compared} bars (paper {parity.data.session_bars}, backtest {parity.data.backtest_bars}):{" "}
              {parity.data.ok ? "the paper session matches its backtest" : "the paper session differs from its backtest"}
            </p>
          ) : null}
          {parity.data ? <KeyValues data={Object.fromEntries(Object.entries(parity.data).filter(([, v]) => typeof v !== "object" || v === null))} /> : null}
        </Section>
      ) : null}
    </>
  );
}
