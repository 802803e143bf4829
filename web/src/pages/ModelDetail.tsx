import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { get, qs, request, type Page } from "../api";
import { useCanWrite } from "../auth";
import { fmtNum, fmtTime, KeyValues, Loading, ProblemView, Section, Status } from "../components";
import type { Dataset, Evaluation, Json, Model, Run } from "../types";

export default function ModelDetail() {
  const { id } = useParams();
  const canWrite = useCanWrite();
  const model = useQuery({ queryKey: ["model", id], queryFn: () => get<Model>(`/models/${id}`) });
  const m = model.data;
  const dataset = useQuery({ queryKey: ["dataset", m?.dataset_id], enabled: !!m, queryFn: () => get<Dataset>(`/datasets/${m!.dataset_id}`) });
  const run = useQuery({ queryKey: ["run", m?.run_id], enabled: !!m, queryFn: () => get<Run>(`/runs/${m!.run_id}`) });
  const evaluations = useQuery({
    queryKey: ["evaluations", "model", id],
    enabled: !!m,
    queryFn: () => get<Page<Evaluation>>(`/evaluations${qs({ model_id: id, limit: 50 })}`),
  });
  const strategies = useQuery({
    queryKey: ["strategies", "model", id],
    enabled: !!m,
    queryFn: () => get<Page<Json>>(`/strategies${qs({ model_id: id, limit: 50 })}`),
  });

  if (model.error) return <ProblemView error={model.error} />;
  if (!m) return <Loading what="model" />;
  const evals = (evaluations.data?.items ?? []).filter((e) => e.model_id === id || (e.subjects ?? []).includes(`model:${id}`));
  const strats = (strategies.data?.items ?? []).filter((s) => s.model_id === id);
  return (
    <>
      <h1>
        Model <code>{m.id.slice(0, 8)}</code> <Status value={m.stage} />
      </h1>
      <p className="muted">
        {m.algorithm} · seed {m.seed} · {(m.size / 1024).toFixed(0)} KB · sha256 <code>{m.checksum.slice(0, 12)}</code> · created{" "}
        {fmtTime(m.created_at)} · aliases: {m.aliases.join(", ") || "none"} ·{" "}
        <a href={`/api/v1/models/${m.id}/download`}>download</a>
      </p>
      <Section title="Lineage">
        <ol className="lineage" aria-label="Lineage: dataset, run, model, evaluations, strategies">
          <li>
            <span className="node-kind">dataset</span>
            <Link to={`/datasets/${m.dataset_id}`}>{dataset.data?.name ?? m.dataset_id.slice(0, 8)}</Link>
            <small>{dataset.data ? `${dataset.data.symbols.join(",")} · ${dataset.data.rows} rows` : ""}</small>
          </li>
          <li>
            <span className="node-kind">run</span>
            <Link to={`/runs/${m.run_id}`}>
              <code>{m.run_id.slice(0, 8)}</code>
            </Link>
            <small>{run.data ? `${run.data.algorithm} · ${run.data.total_timesteps} timesteps · ${run.data.status}` : ""}</small>
            {m.study_id ? (
              <small>
                study <Link to={`/studies/${m.study_id}`}>{m.study_id.slice(0, 8)}</Link>
              </small>
            ) : null}
          </li>
          <li className="current">
            <span className="node-kind">model</span>
            <code>{m.id.slice(0, 8)}</code>
            <small>validation Sharpe {fmtNum(m.metrics?.validation?.sharpe, 3)}</small>
          </li>
          <li>
            <span className="node-kind">evaluations</span>
            {evals.length ? (
              <ul>
                {evals.map((e) => (
                  <li key={e.id}>
                    <Link to={`/evaluations/${e.id}`}>
                      <code>{e.id.slice(0, 8)}</code>
                    </Link>{" "}
                    {e.kind} {e.part} · Sharpe {fmtNum(e.metrics?.sharpe, 3)} · <Status value={e.status} />
                  </li>
                ))}
              </ul>
            ) : (
              <small>none yet</small>
            )}
          </li>
          <li>
            <span className="node-kind">strategies</span>
            {strats.length ? (
              <ul>
                {strats.map((s) => (
                  <li key={String(s.id)}>
                    <Link to={`/strategies#${s.id}`}>{String(s.name ?? String(s.id).slice(0, 8))}</Link> <Status value={String(s.state ?? s.status ?? "")} />
                  </li>
                ))}
              </ul>
            ) : (
              <small>none</small>
            )}
          </li>
        </ol>
        <ProblemView error={evaluations.error ?? strategies.error ?? dataset.error ?? run.error} />
        {canWrite ? (
          <p>
            <Link to={`/evaluations?model_id=${m.id}`}>Evaluate this model</Link>
          </p>
        ) : null}
      </Section>
      {canWrite ? <StageForm model={m} /> : null}
      <Section title="Stage history">
        {m.history?.length ? (
          <table className="dense">
            <thead>
              <tr>
                <th scope="col">when</th>
                <th scope="col">from</th>
                <th scope="col">to</th>
                <th scope="col">aliases</th>
                <th scope="col">by</th>
                <th scope="col">note</th>
              </tr>
            </thead>
            <tbody>
              {m.history.map((h, i) => (
                <tr key={i}>
                  <td>{fmtTime(h.created_at)}</td>
                  <td>{h.from_stage ?? "–"}</td>
                  <td>{h.to_stage}</td>
                  <td>{(h.aliases ?? []).join(", ")}</td>
                  <td>{h.changed_by ?? "–"}</td>
                  <td>{h.note ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p>No stage change yet.</p>
        )}
      </Section>
      <Section title="Hyperparameters">
        <KeyValues data={m.params} />
      </Section>
      <Section title="Lineage record">
        <details>
          <summary>model.json</summary>
          <pre>{JSON.stringify(m.lineage, null, 2)}</pre>
        </details>
      </Section>
    </>
  );
}

function StageForm({ model }: { model: Model }) {
  const client = useQueryClient();
  const [stage, setStage] = useState(model.stage);
  const [aliases, setAliases] = useState(model.aliases.join(", "));
  const [note, setNote] = useState("");
  const save = useMutation({
    mutationFn: () =>
      request<Model>(`/models/${model.id}`, {
        method: "PATCH",
        body: {
          stage,
          aliases: aliases
            .split(",")
            .map((a) => a.trim())
            .filter(Boolean),
          ...(note ? { note } : {}),
        },
      }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["model", model.id] }),
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <Section title="Stage and aliases">
      <form onSubmit={submit} className="row" aria-label="Stage and aliases">
        <label>
          stage{" "}
          <select value={stage} onChange={(e) => setStage(e.target.value)}>
            {["none", "candidate", "production", "archived"].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          aliases <input value={aliases} onChange={(e) => setAliases(e.target.value)} placeholder="spy-live, …" />
        </label>
        <label>
          note <input value={note} onChange={(e) => setNote(e.target.value)} />
        </label>
        <button type="submit" disabled={save.isPending}>
          Save
        </button>
      </form>
      <ProblemView error={save.error} />
    </Section>
  );
}
