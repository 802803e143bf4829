import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { get, post } from "../api";
import { useCanWrite } from "../auth";
import { StepChart } from "../charts";
import { DataTable, fmtNum, fmtTime, IdLink, KeyValues, Loading, Progress, ProblemView, Section, Status, useEventStream } from "../components";
import type { Evaluation, Job, Json, Run } from "../types";

const ACTIVE = ["queued", "running", "waiting"];

export default function RunDetail() {
  const { id } = useParams();
  const canWrite = useCanWrite();
  const client = useQueryClient();
  const navigate = useNavigate();
  const run = useQuery({ queryKey: ["run", id], queryFn: () => get<Run>(`/runs/${id}`) });
  const r = run.data;
  const active = !!r && ACTIVE.includes(r.status);
  // Training reward as the run reports it (recent episode reward), one point per update seen.
  const rewards = useRef<Array<[number, number]>>([]);
  const [job, setJob] = useState<Job | null>(null);
  const stream = useEventStream(
    `/api/v1/runs/${id}/events`,
    (e) => {
      if (e.event === "job" && e.data && typeof e.data === "object") setJob(e.data as Job);
      void client.invalidateQueries({ queryKey: ["run", id] });
    },
    active,
  );
  const live = r?.live ?? {};
  if (typeof live.timesteps === "number" && typeof live.recent_episode_reward === "number") {
    const last = rewards.current[rewards.current.length - 1];
    if (!last || last[0] !== live.timesteps) rewards.current.push([live.timesteps, live.recent_episode_reward]);
  }
  // The complete checkpoints kept in object storage (the newest two), while it trains and after.
  const checkpoints = useQuery({
    queryKey: ["run", id, "checkpoints"],
    enabled: !!r,
    refetchInterval: active ? 5_000 : false,
    queryFn: () => get<Checkpoint[]>(`/runs/${id}/checkpoints`),
  });
  const cancel = useMutation({
    mutationFn: () => post<Run>(`/runs/${id}/cancel`),
    onSuccess: () => client.invalidateQueries({ queryKey: ["run", id] }),
  });
  const evaluate = useMutation({
    mutationFn: () => post<Evaluation>("/evaluations", { model_id: r!.model_id, dataset_id: r!.dataset_id, split: "test" }),
    onSuccess: (ev) => navigate(`/evaluations/${ev.id}`),
  });

  if (run.error) return <ProblemView error={run.error} />;
  if (!r) return <Loading what="run" />;
  const evalHistory: Json[] = r.metrics?.eval_history ?? job?.reports ?? [];
  const evalPoints: Array<[number, number]> = evalHistory
    .map((e) => [Number(e.timesteps ?? e.step), Number(e.mean_reward)] as [number, number])
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  return (
    <>
      <h1>
        Run <code>{r.id.slice(0, 8)}</code> <Status value={r.status} />
      </h1>
      <p className="muted">
        {r.algorithm} · seed {r.seed} · dataset <IdLink to="/datasets" id={r.dataset_id} /> · created {fmtTime(r.created_at)}
        {r.study_id ? (
          <>
            {" "}
            · trial {r.trial_number} of study <IdLink to="/studies" id={r.study_id} />
          </>
        ) : null}
      </p>
      <Section
        title="Progress"
        actions={
          <span className="actions">
            {canWrite && active ? (
              <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
                Cancel run
              </button>
            ) : null}
            {canWrite && r.model_id ? (
              <button type="button" onClick={() => evaluate.mutate()} disabled={evaluate.isPending}>
                {evaluate.isPending ? "Starting…" : "Evaluate on the test split"}
              </button>
            ) : null}
          </span>
        }
      >
        <Progress value={r.progress} label="run progress" />
        <p data-testid="run-progress">
          {r.timesteps}/{r.total_timesteps} timesteps
          {live.steps_per_s ? ` · ${live.steps_per_s} steps/s` : ""}
          {active && live.eta_s != null ? ` · ETA ${Math.round(live.eta_s)} s` : ""}
          {active ? ` · live updates: ${stream}` : ""}
          {job?.message ? ` · ${job.message}` : ""}
        </p>
        {r.model_id ? (
          <p>
            Registered model: <Link to={`/models/${r.model_id}`}><code>{r.model_id}</code></Link>
          </p>
        ) : null}
        {r.error ? <div role="alert" className="problem">{r.error}</div> : null}
        <ProblemView error={cancel.error ?? evaluate.error} />
      </Section>
      <div className="grid2">
        <Section title="Training reward (recent episodes)">
          {rewards.current.length ? (
            <StepChart series={[{ name: "recent episode reward", points: rewards.current }]} label="training reward over timesteps" xLabel="timesteps" />
          ) : (
            <p className="muted">{active ? "Waiting for the first episodes…" : "Seen only while the run trains (open the page during the run)."}</p>
          )}
        </Section>
        <Section title="Validation reward (periodic evaluations)">
          {evalPoints.length ? (
            <StepChart series={[{ name: "mean validation reward", points: evalPoints }]} label="validation reward over timesteps" xLabel="timesteps" />
          ) : (
            <p className="muted">No periodic evaluation {active ? "yet" : "(set eval every)"}.</p>
          )}
        </Section>
      </div>
      {r.metrics?.validation ? (
        <Section title="Validation metrics (best model)">
          <KeyValues data={flat(r.metrics.validation)} />
        </Section>
      ) : null}
      {r.metrics?.final ? (
        <Section title="Final training statistics (losses, …)">
          <KeyValues data={flat(r.metrics.final)} />
        </Section>
      ) : null}
      <Section title="Checkpoints and spec">
        <p>
          {r.resumed_from != null ? `Resumed from the checkpoint at ${r.resumed_from} timesteps. ` : "Not resumed. "}
          Checkpoint every {fmtNum(r.spec?.checkpoint_every ?? null)} timesteps
          {r.metrics?.train_seconds ? ` · trained in ${r.metrics.train_seconds} s` : ""}.
        </p>
        {r.status === "succeeded" ? (
          <p>
            TensorBoard:{" "}
            <a href={`/tensorboard/?runFilter=${r.id}`} target="_blank" rel="noreferrer">
              scalars of this run
            </a>{" "}
            ·{" "}
            <a href={`/api/v1/runs/${r.id}/tensorboard`} download>
              event files (.tar.gz)
            </a>
          </p>
        ) : null}
        <ProblemView error={checkpoints.error} />
        {checkpoints.data && checkpoints.data.length === 0 ? <p className="muted">No checkpoint stored {active ? "yet" : ""}.</p> : null}
        {checkpoints.data && checkpoints.data.length ? (
          <DataTable
            label="Checkpoints"
            rows={checkpoints.data}
            rowKey={(c) => c.step}
            columns={[
              { header: "step", cell: (c) => c.step },
              { header: "saved", cell: (c) => fmtTime(c.created_at) },
              { header: "size", cell: (c) => fmtBytes(c.size_bytes) },
              { header: "files", className: "wrap", cell: (c) => c.files.join(", ") },
              {
                header: "download",
                cell: (c) => (
                  <a href={c.download} download>
                    checkpoint {c.step} (.tar.gz)
                  </a>
                ),
              },
            ]}
          />
        ) : null}
        <details>
          <summary>Full spec</summary>
          <pre>{JSON.stringify(r.spec, null, 2)}</pre>
        </details>
      </Section>
    </>
  );
}

interface Checkpoint {
  step: number;
  created_at: string;
  size_bytes: number;
  files: string[];
  download: string;
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

function flat(obj: Json, prefix = ""): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(out, flat(v, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}
