import { useMutation, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { get, post, type Page } from "../api";
import { useCanWrite } from "../auth";
import { fmtNum, fmtPct, fmtTime, IdLink, ListTable, ProblemView, Section, Status } from "../components";
import type { Dataset, Evaluation, Model } from "../types";

export default function Evaluations() {
  const canWrite = useCanWrite();
  const [params] = useSearchParams();
  const list = useQuery({
    queryKey: ["evaluations"],
    queryFn: () => get<Page<Evaluation>>("/evaluations?limit=100"),
    refetchInterval: (q) => (q.state.data?.items.some((e) => ["queued", "running", "waiting"].includes(e.status)) ? 2000 : 10_000),
  });
  return (
    <>
      <h1>Evaluations</h1>
      {canWrite ? <NewEvaluation initialModels={params.getAll("model_id")} /> : null}
      <Section title="Evaluations">
        <ListTable
          query={list}
          what="evaluations"
          empty="No evaluation yet."
          rowKey={(e) => e.id}
          columns={[
            { header: "evaluation", cell: (e) => <IdLink to="/evaluations" id={e.id} /> },
            { header: "kind", cell: (e) => e.kind },
            { header: "subjects", className: "wrap", cell: (e) => (e.subjects ?? []).map((s: string) => s.replace(/^model:(.{8}).*/, "model:$1")).join(", ") },
            { header: "dataset", cell: (e) => <IdLink to="/datasets" id={e.dataset_id} /> },
            { header: "part", cell: (e) => e.part ?? "–" },
            { header: "status", cell: (e) => <Status value={e.status} /> },
            { header: "Sharpe", cell: (e) => fmtNum(e.metrics?.sharpe, 3) },
            { header: "total return", cell: (e) => fmtPct(e.metrics?.total_return) },
            { header: "max drawdown", cell: (e) => fmtPct(e.metrics?.max_drawdown) },
            { header: "created", cell: (e) => fmtTime(e.created_at) },
          ]}
        />
      </Section>
    </>
  );
}

const BASELINES = ["buy_and_hold", "flat", "sma_crossover", "momentum"];

/** Evaluate one model or a baseline, or compare several models on the same bars. */
function NewEvaluation({ initialModels }: { initialModels: string[] }) {
  const navigate = useNavigate();
  const [open, setOpen] = useState(initialModels.length > 0);
  const [models, setModels] = useState<string[]>(initialModels);
  const [baseline, setBaseline] = useState("");
  const [datasetId, setDatasetId] = useState("");
  const [part, setPart] = useState("test");
  const [cost, setCost] = useState("");
  const modelList = useQuery({ queryKey: ["models", "all"], queryFn: () => get<Page<Model>>("/models?limit=100"), enabled: open });
  const datasets = useQuery({ queryKey: ["datasets", "ready"], queryFn: () => get<Page<Dataset>>("/datasets?status=ready&limit=100"), enabled: open });
  const create = useMutation({
    mutationFn: () => {
      const own = modelList.data?.items.find((m) => m.id === models[0])?.dataset_id;
      const body: Record<string, unknown> = { split: part, dataset_id: datasetId || own };
      if (cost) body.cost_bps = Number(cost);
      if (models.length > 1) return post<Evaluation>("/evaluations/compare", { ...body, model_ids: models });
      if (models.length === 1) return post<Evaluation>("/evaluations", { ...body, model_id: models[0] });
      return post<Evaluation>("/evaluations", { ...body, baseline });
    },
    onSuccess: (e) => navigate(`/evaluations/${e.id}`),
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }
  if (!open)
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          New evaluation or comparison
        </button>
      </p>
    );
  return (
    <Section title="New evaluation" actions={<button type="button" className="link" onClick={() => setOpen(false)}>Close</button>}>
      <form onSubmit={submit} className="form-grid" aria-label="New evaluation">
        <label className="full">
          models (one: an evaluation; several: a comparison on the same bars)
          <select multiple size={Math.min(6, Math.max(2, modelList.data?.items.length ?? 2))} value={models} onChange={(e) => setModels(Array.from(e.target.selectedOptions, (o) => o.value))}>
            {modelList.data?.items.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id.slice(0, 8)} {m.algorithm} seed {m.seed} {m.stage} {m.aliases.join(",")}
              </option>
            ))}
          </select>
        </label>
        <label>
          or a baseline
          <select value={baseline} onChange={(e) => setBaseline(e.target.value)} disabled={models.length > 0}>
            <option value="">–</option>
            {BASELINES.map((b) => (
              <option key={b}>{b}</option>
            ))}
          </select>
        </label>
        <label>
          dataset
          <select value={datasetId} onChange={(e) => setDatasetId(e.target.value)}>
            <option value="">{models.length ? "the model's own" : "choose…"}</option>
            {datasets.data?.items.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          split
          <select value={part} onChange={(e) => setPart(e.target.value)}>
            {["test", "validation", "train"].map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          cost (bps)
          <input type="number" min={0} step="any" value={cost} onChange={(e) => setCost(e.target.value)} placeholder="the run's" />
        </label>
        <div className="full">
          <button type="submit" disabled={create.isPending || (models.length === 0 && !(baseline && datasetId))}>
            {models.length > 1 ? "Compare" : "Evaluate"}
          </button>
        </div>
      </form>
      <ProblemView error={create.error ?? modelList.error} />
      <p className="muted">
        Pick models on the <Link to="/models">Models</Link> page too.
      </p>
    </Section>
  );
}
