import { useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link, useParams } from "react-router";
import { useCanWrite } from "../auth";
import { get, qs } from "../api";
import { LinesChart, type Series } from "../charts";
import { fmtCell, fmtNum, fmtPct, fmtTime, IdLink, Loading, Progress, ProblemView, Records, Section, Status, useEventStream } from "../components";
import type { Evaluation, Json } from "../types";

const ACTIVE = ["queued", "running", "waiting"];
const PCT = /return|drawdown|volatility|var|cvar|cagr|alpha|exposure|turnover|win_rate|cost_drag/i;

interface Point {
  t: string;
  equity: number;
  drawdown: number;
  position?: number;
}

/** The reference benchmarks every evaluation backtests on the same bars and costs. */
const BENCHMARKS = ["buy_and_hold", "flat", "sma_crossover", "momentum"];

function label(subject: string): string {
  return subject.startsWith("model:") ? `model ${subject.slice(6, 14)}` : subject.replace(/_/g, " ");
}

export default function EvaluationDetail() {
  const { id } = useParams();
  const client = useQueryClient();
  const canWrite = useCanWrite();
  const evaluation = useQuery({ queryKey: ["evaluation", id], queryFn: () => get<Evaluation>(`/evaluations/${id}`) });
  const e = evaluation.data;
  const active = !!e && ACTIVE.includes(e.status);
  useEventStream(`/api/v1/evaluations/${id}/events`, () => void client.invalidateQueries({ queryKey: ["evaluation", id] }), active);
  const done = e?.status === "succeeded";

  // Stored equity series: every subject's and every benchmark's (evaluations made before the
  // benchmarks' curves were stored have buy-and-hold's only; the others are then skipped).
  const subjects: string[] = useMemo(() => {
    if (!e) return [];
    const own = e.subjects?.length ? e.subjects : [e.model_id ? `model:${e.model_id}` : (e.baseline ?? "subject")];
    const names = own.map((s: string) => s.replace(/^baseline:/, ""));
    return [...own, ...BENCHMARKS.filter((b) => !names.includes(b))];
  }, [e]);
  const curves = useQueries({
    queries: subjects.map((s, i) => ({
      queryKey: ["equity", id, s],
      enabled: done,
      queryFn: () => get<Point[]>(`/evaluations/${id}/equity${i === 0 ? "" : qs({ subject: s })}`),
    })),
  });
  const trades = useQuery({ queryKey: ["trades", id], enabled: done, queryFn: () => get<Json[]>(`/evaluations/${id}/trades`) });

  if (evaluation.error) return <ProblemView error={evaluation.error} />;
  if (!e) return <Loading what="evaluation" />;
  const loaded = subjects.map((s, i) => ({ s, data: curves[i]?.data })).filter((c) => c.data && c.data.length);
  const equitySeries: Series[] = loaded.map((c) => ({ name: label(c.s), points: c.data!.map((p) => ({ t: p.t, v: p.equity })) }));
  const drawdownSeries: Series[] = loaded.slice(0, 2).map((c, i) => ({
    name: label(c.s),
    area: i === 0,
    points: c.data!.map((p) => ({ t: p.t, v: -Math.abs(p.drawdown) })),
  }));
  const main = loaded[0]?.data;
  const curveErrors = curves.map((c) => c.error).filter(Boolean);

  return (
    <>
      <h1>
        Evaluation <code>{e.id.slice(0, 8)}</code> <Status value={e.status} />
      </h1>
      <p className="muted">
        {e.kind} · {subjects.slice(0, e.subjects?.length || 1).map(label).join(", ")} · dataset <IdLink to="/datasets" id={e.dataset_id} /> ·{" "}
        {e.part ?? "dates"} split · costs {e.cost_bps != null ? `${e.cost_bps} bps` : "as trained"} · created {fmtTime(e.created_at)}
        {e.model_id ? (
          <>
            {" "}
            · model <IdLink to="/models" id={e.model_id} />
          </>
        ) : null}
        {done ? (
          <>
            {" "}
            ·{" "}
            <a href={`/api/v1/evaluations/${e.id}/report`} target="_blank" rel="noreferrer">
              HTML report
            </a>
            {canWrite && e.model_id ? (
              <>
                {" "}
                · <Link to={`/strategies?model=${e.model_id}`}>Promote to a strategy</Link>
              </>
            ) : null}
          </>
        ) : null}
      </p>
      {active ? <Progress value={e.progress ?? 0} label="evaluation progress" /> : null}
      {e.error ? <div role="alert" className="problem">{e.error}</div> : null}
      {done ? (
        <>
          <Section title="Equity vs every benchmark">
            {curveErrors.map((err, i) => (
              <ProblemView key={i} error={err} />
            ))}
            {equitySeries.length ? <LinesChart series={equitySeries} label="equity curves of the subject and every benchmark" /> : <Loading what="equity" />}
          </Section>
          <div className="grid2">
            <Section title="Drawdown">
              {drawdownSeries.length ? <LinesChart series={drawdownSeries} label="drawdown over time" height={220} /> : <Loading what="drawdown" />}
            </Section>
            <Section title="Monthly returns">{main ? <MonthlyHeatmap points={main} /> : <Loading what="returns" />}</Section>
          </div>
          <Section title="Metrics">
            <MetricsTable e={e} />
          </Section>
          <Section title="Statistics">
            <Statistics e={e} />
          </Section>
          <div className="grid2">
            <Section title="Diagnostics">
              <Diagnostics data={e.diagnostics ?? {}} />
            </Section>
            <Section title="Cost sensitivity">
              <Records rows={e.cost_sensitivity ?? []} />
            </Section>
          </div>
          {e.verdicts?.available ? (
            <Section title={`Verdicts (level ${e.verdicts.level}, ${e.verdicts.adjustment ?? ""})`}>
              <Records rows={e.verdicts.pairs ?? e.verdicts.verdicts ?? []} />
            </Section>
          ) : e.verdicts ? (
            <Section title="Verdicts">
              <p>{e.verdicts.reason}</p>
            </Section>
          ) : null}
          {e.comparison?.length ? (
            <Section title="Comparison">
              <Records rows={e.comparison} />
            </Section>
          ) : null}
          <Section title={`Trades${trades.data ? ` (${trades.data.length})` : ""}`}>
            <ProblemView error={trades.error} />
            {trades.data ? <Records rows={trades.data.slice(0, 200)} /> : <Loading what="trades" />}
            {trades.data && trades.data.length > 200 ? <p className="muted">First 200 of {trades.data.length}.</p> : null}
          </Section>
        </>
      ) : null}
    </>
  );
}

function MetricsTable({ e }: { e: Evaluation }) {
  const cols: Array<[string, Json]> = [[label(e.subjects?.[0] ?? "subject"), e.metrics ?? {}]];
  for (const [name, b] of Object.entries((e.benchmarks ?? {}) as Json)) {
    const m = b && typeof b === "object" ? ((b as Json).metrics ?? b) : null;
    if (m && typeof m === "object" && Object.values(m).some((v) => typeof v === "number")) cols.push([label(name), m]);
  }
  const keys = Object.keys(cols[0][1]).filter((k) => typeof cols[0][1][k] === "number");
  return (
    <div className="scroll" tabIndex={0}>
      <table className="dense" aria-label="Metrics of the subject and the benchmarks">
        <thead>
          <tr>
            <th scope="col">metric</th>
            {cols.map(([n]) => (
              <th key={n} scope="col">
                {n}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              {cols.map(([n, m]) => (
                <td key={n}>{typeof m[k] === "number" ? (PCT.test(k) ? fmtPct(m[k]) : fmtNum(m[k], 3)) : "–"}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Statistics({ e }: { e: Evaluation }) {
  const s: Json = e.statistics ?? {};
  const ci = e.sharpe_ci;
  return (
    <dl className="kv">
      <div>
        <dt>Sharpe</dt>
        <dd>{fmtNum(e.metrics?.sharpe, 3)}</dd>
      </div>
      <div>
        <dt>Sharpe 95% CI (block bootstrap)</dt>
        <dd>{ci ? `[${fmtNum(ci[0], 3)}, ${fmtNum(ci[1], 3)}]` : "–"}</dd>
      </div>
      <div>
        <dt>deflated Sharpe ratio</dt>
        <dd>{e.deflated_sharpe != null ? fmtNum(e.deflated_sharpe, 3) : "– (not a tuned model)"}</dd>
      </div>
      {e.study_pbo != null ? (
        <div>
          <dt>study PBO</dt>
          <dd>{fmtNum(e.study_pbo, 3)}</dd>
        </div>
      ) : null}
      {Object.entries(s)
        .filter(([, v]) => typeof v === "number" || typeof v === "string" || typeof v === "boolean")
        .map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{fmtCell(v)}</dd>
          </div>
        ))}
    </dl>
  );
}

function Diagnostics({ data }: { data: Json }) {
  const flags = Object.entries(data);
  if (!flags.length) return <p>No diagnostics.</p>;
  return (
    <ul className="plain">
      {flags.map(([k, v]) => (
        <li key={k}>
          {typeof v === "boolean" ? <span className={v ? "flag on" : "flag off"}>{v ? "⚑ yes" : "no"}</span> : null} <strong>{k}</strong>
          {typeof v !== "boolean" ? `: ${fmtCell(v)}` : ""}
        </li>
      ))}
    </ul>
  );
}

/** Monthly returns from the equity curve, one row per year (a heatmap: green up, red down). */
function MonthlyHeatmap({ points }: { points: Point[] }) {
  const months = new Map<string, { first: number; last: number }>();
  let prevLast: number | null = null;
  for (const p of points) {
    const key = p.t.slice(0, 7);
    const m = months.get(key);
    if (!m) {
      months.set(key, { first: prevLast ?? p.equity, last: p.equity });
    } else m.last = p.equity;
    prevLast = p.equity;
  }
  const years = Array.from(new Set([...months.keys()].map((k) => k.slice(0, 4)))).sort();
  const names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return (
    <div className="scroll" tabIndex={0}>
      <table className="heatmap" aria-label="Monthly returns">
        <thead>
          <tr>
            <th scope="col">year</th>
            {names.map((n) => (
              <th key={n} scope="col">
                {n}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {years.map((y) => (
            <tr key={y}>
              <th scope="row">{y}</th>
              {names.map((_, i) => {
                const m = months.get(`${y}-${String(i + 1).padStart(2, "0")}`);
                if (!m) return <td key={i} />;
                const r = m.last / m.first - 1;
                const a = Math.min(1, Math.abs(r) / 0.08);
                const bg = r >= 0 ? `rgba(45,164,78,${0.08 + 0.32 * a})` : `rgba(207,34,46,${0.08 + 0.27 * a})`;
                return (
                  <td key={i} style={{ background: bg }}>
                    {(r * 100).toFixed(1)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
