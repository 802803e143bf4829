import { useMutation, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { get, post, type Page } from "../api";
import { useCanWrite } from "../auth";
import { fmtNum, fmtTime, IdLink, ListTable, Progress, ProblemView, Section, Status } from "../components";
import type { Dataset, Json } from "../types";

export default function Studies() {
  const canWrite = useCanWrite();
  const list = useQuery({
    queryKey: ["studies"],
    queryFn: () => get<Page<Json>>("/studies?limit=100"),
    refetchInterval: (q) => (q.state.data?.items.some((s) => ["queued", "running", "waiting"].includes(s.status)) ? 2000 : 10_000),
  });
  return (
    <>
      <h1>Tuning studies</h1>
      <p className="muted">
        Optuna studies whose trials are training runs. Also in{" "}
        <a href="/optuna/" target="_blank" rel="noreferrer">
          optuna-dashboard
        </a>
        .
      </p>
      {canWrite ? <NewStudy /> : null}
      <Section title="Studies">
        <ListTable
          query={list}
          what="studies"
          empty="No study yet."
          rowKey={(s) => s.id}
          columns={[
            { header: "study", cell: (s) => <IdLink to="/studies" id={s.id} /> },
            { header: "algorithm", cell: (s) => s.algorithm },
            { header: "objective", cell: (s) => objectiveText(s.objective) },
            { header: "sampler / pruner", cell: (s) => `${s.sampler} / ${s.pruner}` },
            { header: "status", cell: (s) => <Status value={s.status} /> },
            { header: "progress", cell: (s) => <Progress value={s.progress} label={`study ${String(s.id).slice(0, 8)} progress`} /> },
            { header: "trials (complete/pruned/failed/running)", cell: (s) => `${s.n_complete}/${s.n_pruned}/${s.n_failed}/${s.n_running} of ${s.n_trials}` },
            { header: "best", cell: (s) => (s.best_trial ? `#${s.best_trial.number}: ${fmtNum(s.best_trial.value, 4)}` : "–") },
            { header: "created", cell: (s) => fmtTime(s.created_at) },
          ]}
        />
      </Section>
    </>
  );
}

export function objectiveText(o: unknown): string {
  if (!o) return "–";
  if (typeof o === "string") return o;
  const j = o as Json;
  return `${j.metric} (${j.direction})`;
}

function NewStudy() {
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const datasets = useQuery({ queryKey: ["datasets", "ready"], enabled: open, queryFn: () => get<Page<Dataset>>("/datasets?status=ready&limit=100") });
  const options = useQuery({ queryKey: ["study-options"], enabled: open, queryFn: () => get<Json>("/studies/options") });
  const [f, setF] = useState({
    dataset_id: "",
    algorithm: "ppo",
    n_trials: "8",
    parallelism: "2",
    timesteps_per_trial: "5000",
    metric: "sharpe",
    direction: "maximize",
    sampler: "tpe",
    pruner: "none",
    eval_every: "",
    seed: "0",
  });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const create = useMutation({
    mutationFn: () =>
      post<Json>("/studies", {
        dataset_id: f.dataset_id,
        algorithm: f.algorithm,
        n_trials: Number(f.n_trials),
        parallelism: Number(f.parallelism),
        timesteps_per_trial: Number(f.timesteps_per_trial),
        objective: { metric: f.metric, direction: f.direction },
        sampler: f.sampler,
        pruner: f.pruner,
        seed: Number(f.seed),
        ...(f.eval_every ? { eval_every: Number(f.eval_every) } : {}),
      }),
    onSuccess: (s) => navigate(`/studies/${s.id}`),
  });
  const names = (v: unknown): string[] =>
    Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : String((x as Json).name))) : v && typeof v === "object" ? Object.keys(v) : [];
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }
  if (!open)
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          New study
        </button>
      </p>
    );
  const samplers = names(options.data?.samplers);
  const pruners = names(options.data?.pruners);
  const objectives = names(options.data?.objectives);
  return (
    <Section title="New study" actions={<button type="button" className="link" onClick={() => setOpen(false)}>Close</button>}>
      <form onSubmit={submit} className="form-grid" aria-label="New study">
        <label>
          dataset
          <select value={f.dataset_id} onChange={set("dataset_id")} required>
            <option value="">choose…</option>
            {datasets.data?.items.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          algorithm
          <select value={f.algorithm} onChange={set("algorithm")}>
            {["ppo", "a2c", "dqn", "sac", "td3"].map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <label>
          trials
          <input type="number" min={1} value={f.n_trials} onChange={set("n_trials")} />
        </label>
        <label>
          parallelism
          <input type="number" min={1} value={f.parallelism} onChange={set("parallelism")} />
        </label>
        <label>
          timesteps per trial
          <input type="number" min={1} value={f.timesteps_per_trial} onChange={set("timesteps_per_trial")} />
        </label>
        <label>
          objective
          <select value={f.metric} onChange={set("metric")}>
            {(objectives.length ? objectives : ["sharpe", "sortino", "calmar", "total_return"]).map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label>
          direction
          <select value={f.direction} onChange={set("direction")}>
            <option>maximize</option>
            <option>minimize</option>
          </select>
        </label>
        <label>
          sampler
          <select value={f.sampler} onChange={set("sampler")}>
            {(samplers.length ? samplers : ["tpe"]).map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label>
          pruner
          <select value={f.pruner} onChange={set("pruner")}>
            {(pruners.length ? pruners : ["none"]).map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label>
          eval every (needed by a pruner)
          <input type="number" min={1} value={f.eval_every} onChange={set("eval_every")} />
        </label>
        <label>
          seed
          <input type="number" min={0} value={f.seed} onChange={set("seed")} />
        </label>
        <div className="full">
          <button type="submit" disabled={create.isPending || !f.dataset_id}>
            Start study
          </button>
        </div>
      </form>
      <ProblemView error={create.error ?? options.error} />
    </Section>
  );
}
