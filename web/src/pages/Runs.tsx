import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { get, qs, request, type Page } from "../api";
import { useCanWrite } from "../auth";
import { fmtTime, IdLink, ListTable, Progress, ProblemView, Section, Status } from "../components";
import type { Dataset, Json, Run } from "../types";

export default function Runs() {
  const canWrite = useCanWrite();
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const datasetId = params.get("dataset_id") ?? "";
  const list = useQuery({
    queryKey: ["runs", status, datasetId],
    queryFn: () => get<Page<Run>>(`/runs${qs({ limit: 100, status, dataset_id: datasetId })}`),
    refetchInterval: (q) => (q.state.data?.items.some((r) => ["queued", "running"].includes(r.status)) ? 2000 : 10_000),
  });
  return (
    <>
      <h1>Training runs</h1>
      {canWrite ? <CreateRun initialDataset={datasetId} /> : null}
      <Section
        title="Runs"
        actions={
          <label>
            status{" "}
            <select
              value={status}
              onChange={(e) => {
                const next = new URLSearchParams(params);
                if (e.target.value) next.set("status", e.target.value);
                else next.delete("status");
                setParams(next);
              }}
            >
              <option value="">any</option>
              {["queued", "running", "succeeded", "failed", "canceled"].map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
        }
      >
        <ListTable
          query={list}
          what="runs"
          empty="No run yet."
          rowKey={(r) => r.id}
          columns={[
            { header: "run", cell: (r) => <IdLink to="/runs" id={r.id} /> },
            { header: "algorithm", cell: (r) => r.algorithm },
            { header: "dataset", cell: (r) => <IdLink to="/datasets" id={r.dataset_id} /> },
            { header: "status", cell: (r) => <Status value={r.status} /> },
            { header: "progress", cell: (r) => <Progress value={r.progress} label={`run ${r.id.slice(0, 8)} progress`} /> },
            { header: "timesteps", cell: (r) => `${r.timesteps}/${r.total_timesteps}` },
            { header: "validation Sharpe", cell: (r) => fmtSharpe(r.metrics) },
            { header: "model", cell: (r) => <IdLink to="/models" id={r.model_id} /> },
            { header: "study", cell: (r) => (r.study_id ? <IdLink to="/studies" id={r.study_id} /> : "–") },
            { header: "created", cell: (r) => fmtTime(r.created_at) },
          ]}
        />
      </Section>
    </>
  );
}

function fmtSharpe(metrics: Json): string {
  const v = metrics?.validation?.sharpe;
  return typeof v === "number" ? v.toFixed(3) : "–";
}

interface JsonSchema {
  type?: string;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
}

interface Algorithm {
  name: string;
  action_spaces: string[];
  hyperparams: JsonSchema;
}

function kindOf(s: JsonSchema): string {
  if (s.enum) return "enum";
  if (s.type) return s.type;
  const first = s.anyOf?.find((a) => a.type !== "null");
  return first ? kindOf(first) : "json";
}

/** The run form: the request's main fields, and every hyperparameter of the chosen algorithm
 * from the algorithm's JSON schema (GET /algorithms) with its default. */
function CreateRun({ initialDataset }: { initialDataset: string }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const datasets = useQuery({
    queryKey: ["datasets", "ready"],
    queryFn: () => get<Page<Dataset>>("/datasets?status=ready&limit=100"),
  });
  const algorithms = useQuery({ queryKey: ["algorithms"], queryFn: () => get<{ items: Algorithm[] }>("/algorithms") });
  const [open, setOpen] = useState(!!initialDataset);
  const [form, setForm] = useState({
    dataset_id: initialDataset,
    algorithm: "ppo",
    total_timesteps: "10000",
    seed: "0",
    window: "30",
    cost_bps: "5",
    action_space: "",
    eval_every: "",
    checkpoint_every: "",
    split_train: "0.7",
    split_validation: "0.15",
    split_test: "0.15",
  });
  const [hyper, setHyper] = useState<Record<string, string>>({});
  const algo = algorithms.data?.items.find((a) => a.name === form.algorithm);
  const hyperFields = useMemo(() => Object.entries(algo?.hyperparams.properties ?? {}), [algo]);

  const create = useMutation({
    mutationFn: () => {
      const hyperparams: Json = {};
      for (const [name, schema] of hyperFields) {
        const raw = hyper[name];
        if (raw === undefined || raw === "") continue;
        const k = kindOf(schema);
        hyperparams[name] = k === "number" || k === "integer" ? Number(raw) : k === "boolean" ? raw === "true" : k === "enum" || k === "string" ? raw : JSON.parse(raw);
      }
      const env: Json = { window: Number(form.window), cost_bps: Number(form.cost_bps) };
      if (form.action_space) env.action_space = form.action_space;
      const body: Json = {
        dataset_id: form.dataset_id,
        algorithm: form.algorithm,
        total_timesteps: Number(form.total_timesteps),
        seed: Number(form.seed),
        env,
        hyperparams,
        split: { train: Number(form.split_train), validation: Number(form.split_validation), test: Number(form.split_test) },
      };
      if (form.eval_every) body.eval_every = Number(form.eval_every);
      if (form.checkpoint_every) body.checkpoint_every = Number(form.checkpoint_every);
      return request<Run>("/runs", { method: "POST", body });
    },
    onSuccess: (run) => {
      void client.invalidateQueries({ queryKey: ["runs"] });
      navigate(`/runs/${run.id}`);
    },
  });

  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  if (!open) {
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          New run
        </button>
      </p>
    );
  }
  return (
    <Section title="New run" actions={<button type="button" className="link" onClick={() => setOpen(false)}>Close</button>}>
      <ProblemView error={datasets.error ?? algorithms.error} />
      <form onSubmit={submit} className="form-grid" aria-label="New run">
        <label>
          dataset
          <select value={form.dataset_id} onChange={set("dataset_id")} required>
            <option value="">choose…</option>
            {datasets.data?.items.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.symbols.join(",")}, {d.rows} rows)
              </option>
            ))}
          </select>
        </label>
        <label>
          algorithm
          <select value={form.algorithm} onChange={(e) => { setForm({ ...form, algorithm: e.target.value }); setHyper({}); }}>
            {algorithms.data?.items.map((a) => (
              <option key={a.name} value={a.name}>
                {a.name} ({a.action_spaces.join("/")})
              </option>
            ))}
          </select>
        </label>
        <label>
          total timesteps
          <input type="number" min={1} value={form.total_timesteps} onChange={set("total_timesteps")} required />
        </label>
        <label>
          seed
          <input type="number" min={0} value={form.seed} onChange={set("seed")} />
        </label>
        <label>
          window (bars)
          <input type="number" min={1} value={form.window} onChange={set("window")} />
        </label>
        <label>
          cost (bps)
          <input type="number" min={0} step="any" value={form.cost_bps} onChange={set("cost_bps")} />
        </label>
        <label>
          action space
          <select value={form.action_space} onChange={set("action_space")}>
            <option value="">default</option>
            {(algo?.action_spaces ?? []).map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          eval every (timesteps)
          <input type="number" min={1} value={form.eval_every} onChange={set("eval_every")} placeholder="service default" />
        </label>
        <label>
          checkpoint every
          <input type="number" min={1} value={form.checkpoint_every} onChange={set("checkpoint_every")} placeholder="service default" />
        </label>
        <label>
          split train
          <input type="number" step="any" value={form.split_train} onChange={set("split_train")} />
        </label>
        <label>
          split validation
          <input type="number" step="any" value={form.split_validation} onChange={set("split_validation")} />
        </label>
        <label>
          split test
          <input type="number" step="any" value={form.split_test} onChange={set("split_test")} />
        </label>
        <details className="full">
          <summary>{form.algorithm.toUpperCase()} hyperparameters ({hyperFields.length}, from the API schema)</summary>
          <div className="form-grid">
            {hyperFields.map(([name, schema]) => {
              const k = kindOf(schema);
              const options = schema.enum ?? schema.anyOf?.find((a) => a.enum)?.enum;
              return (
                <label key={name} title={schema.description}>
                  {name}
                  {options ? (
                    <select value={hyper[name] ?? ""} onChange={(e) => setHyper({ ...hyper, [name]: e.target.value })}>
                      <option value="">default ({String(schema.default)})</option>
                      {options.map((o) => (
                        <option key={String(o)}>{String(o)}</option>
                      ))}
                    </select>
                  ) : (
                    <input
                      type={k === "number" || k === "integer" ? "number" : "text"}
                      step="any"
                      value={hyper[name] ?? ""}
                      placeholder={schema.default === undefined ? k : JSON.stringify(schema.default)}
                      onChange={(e) => setHyper({ ...hyper, [name]: e.target.value })}
                    />
                  )}
                </label>
              );
            })}
          </div>
        </details>
        <div className="full">
          <button type="submit" disabled={create.isPending || !form.dataset_id}>
            {create.isPending ? "Starting…" : "Start run"}
          </button>
        </div>
      </form>
      <ProblemView error={create.error} />
      <p className="muted">
        The API checks the whole request before anything runs; a bad field comes back as a 422 naming it. See also{" "}
        <Link to="/datasets">datasets</Link>.
      </p>
    </Section>
  );
}
