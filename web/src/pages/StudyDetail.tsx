import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { ApiError, get, post } from "../api";
import { useCanWrite } from "../auth";
import { PALETTE, StepChart } from "../charts";
import { fmtCell, fmtNum, fmtTime, IdLink, Loading, Progress, ProblemView, Section, Status, useEventStream } from "../components";
import type { Json } from "../types";
import { objectiveText } from "./Studies";

const ACTIVE = ["queued", "running", "waiting"];

export default function StudyDetail() {
  const { id } = useParams();
  const canWrite = useCanWrite();
  const client = useQueryClient();
  const study = useQuery({ queryKey: ["study", id], queryFn: () => get<Json>(`/studies/${id}`) });
  const s = study.data;
  const active = !!s && ACTIVE.includes(s.status);
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ["study", id] });
    void client.invalidateQueries({ queryKey: ["trials", id] });
    void client.invalidateQueries({ queryKey: ["history", id] });
  };
  useEventStream(`/api/v1/studies/${id}/events`, refresh, active);
  const trials = useQuery({
    queryKey: ["trials", id],
    queryFn: () => get<Json[] | { items: Json[] }>(`/studies/${id}/trials`),
    refetchInterval: active ? 3000 : false,
  });
  // (results need complete trials: 1 for the history, 2 for importances; asked only then)
  const history = useQuery({ queryKey: ["history", id], enabled: (s?.n_complete ?? 0) + (s?.n_pruned ?? 0) >= 1, queryFn: () => get<Json>(`/studies/${id}/history`), retry: false });
  const importances = useQuery({ queryKey: ["importances", id, s?.n_complete], enabled: (s?.n_complete ?? 0) >= 2, queryFn: () => get<Json>(`/studies/${id}/importances`), retry: false });
  const cancel = useMutation({ mutationFn: () => post<Json>(`/studies/${id}/cancel`), onSuccess: refresh });
  const resume = useMutation({ mutationFn: () => post<Json>(`/studies/${id}/resume`), onSuccess: refresh });

  if (study.error) return <ProblemView error={study.error} />;
  if (!s) return <Loading what="study" />;
  const rows: Json[] = Array.isArray(trials.data) ? trials.data : (trials.data?.items ?? []);
  const hist: Json[] = history.data?.trials ?? [];
  const notYet = (err: unknown) => err instanceof ApiError && err.status === 409;
  return (
    <>
      <h1>
        Study <code>{String(s.id).slice(0, 8)}</code> <Status value={s.status} />
      </h1>
      <p className="muted">
        {s.algorithm} · {objectiveText(s.objective)} · {s.sampler}/{s.pruner} · {s.n_trials} trials, {s.parallelism} at once, {s.timesteps_per_trial} timesteps each · dataset{" "}
        <IdLink to="/datasets" id={s.dataset_id} /> · created {fmtTime(s.created_at)} ·{" "}
        <a href="/optuna/" target="_blank" rel="noreferrer">
          optuna-dashboard
        </a>
      </p>
      <Section
        title="Progress"
        actions={
          canWrite ? (
            <span className="actions">
              {active ? (
                <button type="button" className="danger" onClick={() => cancel.mutate()}>
                  Cancel study
                </button>
              ) : null}
              {["canceled", "failed"].includes(s.status) ? (
                <button type="button" onClick={() => resume.mutate()}>
                  Resume
                </button>
              ) : null}
            </span>
          ) : null
        }
      >
        <Progress value={s.progress} label="study progress" />
        <p>
          complete {s.n_complete} · pruned {s.n_pruned} · failed {s.n_failed} · running {s.n_running}
          {s.best_trial ? ` · best trial #${s.best_trial.number} = ${fmtNum(s.best_trial.value, 4)}` : ""}
          {s.best_model_id ? (
            <>
              {" "}
              · best model <IdLink to="/models" id={s.best_model_id} />
            </>
          ) : null}
        </p>
        {s.overfitting ? <p>Probability of backtest overfitting: {fmtCell(s.overfitting.pbo ?? s.overfitting.reason)}</p> : null}
        {s.error ? <div role="alert" className="problem">{s.error}</div> : null}
        <ProblemView error={cancel.error ?? resume.error} />
      </Section>
      <div className="grid2">
        <Section title="History">
          {!history.data && !history.error ? <p className="muted">No complete trial yet.</p> : null}
          {notYet(history.error) ? <p className="muted">No complete trial yet.</p> : <ProblemView error={history.error} />}
          {hist.length ? (
            <StepChart
              label="objective per trial and best so far"
              xLabel="trial"
              series={[
                { name: "objective", points: hist.filter((h) => h.value != null).map((h) => [h.number, h.value]) },
                { name: "best so far", points: hist.filter((h) => h.best_so_far != null).map((h) => [h.number, h.best_so_far]) },
              ]}
            />
          ) : null}
        </Section>
        <Section title="Hyperparameter importances (fANOVA)">
          {(s.n_complete ?? 0) < 2 || notYet(importances.error) ? <p className="muted">Needs two complete trials.</p> : <ProblemView error={importances.error} />}
          {importances.data ? <Bars values={importances.data.importances ?? {}} /> : null}
        </Section>
      </div>
      <Section title="Parallel coordinates">
        <ParallelCoordinates trials={rows.filter((t) => t.value != null)} />
      </Section>
      <Section title={`Trials (${rows.length})`}>
        <ProblemView error={trials.error} />
        <div className="scroll" tabIndex={0}>
          <table className="dense" aria-label="Trials">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">state</th>
                <th scope="col">value</th>
                <th scope="col">params</th>
                <th scope="col">run</th>
                <th scope="col">model</th>
                <th scope="col">duration</th>
                <th scope="col">error</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={t.number}>
                  <td>{t.number}</td>
                  <td>
                    <Status value={t.state} />
                  </td>
                  <td>{fmtNum(t.value, 4)}</td>
                  <td className="wrap">
                    {Object.entries(t.params ?? {})
                      .map(([k, v]) => `${k}=${fmtCell(v)}`)
                      .join(", ")}
                  </td>
                  <td>{t.run_id ? <Link to={`/runs/${t.run_id}`}><code>{String(t.run_id).slice(0, 8)}</code></Link> : "–"}</td>
                  <td>
                    <IdLink to="/models" id={t.model_id} />
                  </td>
                  <td>{t.duration != null ? `${fmtNum(t.duration, 1)} s` : "–"}</td>
                  <td className="wrap">{t.error ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  );
}

function Bars({ values }: { values: Record<string, number> }) {
  const entries = Object.entries(values).sort((a, b) => b[1] - a[1]);
  const max = Math.max(...entries.map((e) => e[1]), 1e-9);
  return (
    <ul className="bars" aria-label="importances">
      {entries.map(([k, v]) => (
        <li key={k}>
          <span className="bar-label">{k}</span>
          <span className="bar" style={{ width: `${(v / max) * 100}%` }} />
          <span>{fmtNum(v, 3)}</span>
        </li>
      ))}
    </ul>
  );
}

/** Each complete trial as a line across one axis per hyperparameter and the objective. */
function ParallelCoordinates({ trials }: { trials: Json[] }) {
  if (trials.length < 2) return <p className="muted">Needs two complete trials.</p>;
  const params = Array.from(new Set(trials.flatMap((t) => Object.keys(t.params ?? {}))));
  const axes = [...params, "objective"];
  const valueOf = (t: Json, a: string): unknown => (a === "objective" ? t.value : t.params?.[a]);
  // Per axis: a [0, 1] scale and the labels of its ends (numbers: min/max; categories: first/last).
  const axisInfo = axes.map((a) => {
    const vals = trials.map((t) => valueOf(t, a));
    if (vals.every((v) => typeof v === "number")) {
      const nums = vals as number[];
      const lo = Math.min(...nums);
      const hi = Math.max(...nums);
      return { scale: (v: unknown) => (hi === lo ? 0.5 : ((v as number) - lo) / (hi - lo)), lo: fmtNum(lo, 4), hi: fmtNum(hi, 4) };
    }
    const cats = Array.from(new Set(vals.map(String)));
    return { scale: (v: unknown) => (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)), lo: cats[0], hi: cats[cats.length - 1] };
  });
  const scales = axisInfo.map((i) => i.scale);
  const W = 760;
  const H = 240;
  const P = 30;
  const x = (i: number) => P + (i * (W - 2 * P)) / Math.max(1, axes.length - 1);
  const y = (f: number) => H - P - f * (H - 2 * P);
  const objScale = scales[axes.length - 1];
  return (
    <svg viewBox={`0 0 ${W} ${H + 20}`} role="img" aria-label="parallel coordinates of the trials' hyperparameters and objective" className="svgchart">
      {axes.map((a, i) => (
        <g key={a}>
          <line x1={x(i)} x2={x(i)} y1={P} y2={H - P} stroke="#8c959f" />
          <text x={x(i)} y={H - 8} fontSize="11" textAnchor="middle" fill="#24292f">
            {a}
          </text>
          <text x={x(i) + 4} y={P - 6} fontSize="10" fill="#57606a">
            {axisInfo[i].hi}
          </text>
          <text x={x(i) + 4} y={H - P + 12} fontSize="10" fill="#57606a">
            {axisInfo[i].lo}
          </text>
        </g>
      ))}
      {trials.map((t) => {
        const f = objScale(t.value);
        return (
          <polyline
            key={t.number}
            fill="none"
            stroke={f > 0.66 ? PALETTE[2] : f > 0.33 ? PALETTE[0] : PALETTE[5]}
            strokeOpacity="0.8"
            strokeWidth="1.5"
            points={axes.map((a, i) => `${x(i)},${y(scales[i](valueOf(t, a)))}`).join(" ")}
          >
            <title>{`trial ${t.number}: ${fmtNum(t.value, 4)}`}</title>
          </polyline>
        );
      })}
    </svg>
  );
}
