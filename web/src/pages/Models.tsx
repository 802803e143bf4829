import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { get, qs, type Page } from "../api";
import { DataTable, fmtTime, IdLink, Loading, ProblemView, Section, Status } from "../components";
import type { Model } from "../types";

export default function Models() {
  const [stage, setStage] = useState("");
  const [algorithm, setAlgorithm] = useState("");
  const [alias, setAlias] = useState("");
  const [picked, setPicked] = useState<string[]>([]);
  const list = useQuery({
    queryKey: ["models", stage, algorithm, alias],
    queryFn: () => get<Page<Model>>(`/models${qs({ limit: 100, stage, algorithm, alias })}`),
  });
  return (
    <>
      <h1>Model registry</h1>
      <Section
        title="Models"
        actions={
          <span className="filters">
            <label>
              stage{" "}
              <select value={stage} onChange={(e) => setStage(e.target.value)}>
                <option value="">any</option>
                {["none", "candidate", "production", "archived"].map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>{" "}
            <label>
              algorithm{" "}
              <select value={algorithm} onChange={(e) => setAlgorithm(e.target.value)}>
                <option value="">any</option>
                {["ppo", "a2c", "dqn", "sac", "td3"].map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>{" "}
            <label>
              alias <input value={alias} onChange={(e) => setAlias(e.target.value)} size={12} />
            </label>
          </span>
        }
      >
        <ProblemView error={list.error} />
        {list.isLoading ? <Loading what="models" /> : null}
        {list.data && list.data.items.length === 0 ? <p>No model (a finished run registers one).</p> : null}
        {list.data && list.data.items.length ? (
          <>
            <DataTable
              rows={list.data.items}
              rowKey={(m) => m.id}
              columns={[
                {
                  header: "compare",
                  hiddenHeader: true,
                  cell: (m) => (
                    <input
                      type="checkbox"
                      aria-label={`pick model ${m.id.slice(0, 8)} to compare`}
                      checked={picked.includes(m.id)}
                      onChange={(e) => setPicked(e.target.checked ? [...picked, m.id] : picked.filter((p) => p !== m.id))}
                    />
                  ),
                },
                { header: "model", cell: (m) => <IdLink to="/models" id={m.id} /> },
                { header: "algorithm", cell: (m) => m.algorithm },
                { header: "seed", cell: (m) => m.seed },
                { header: "stage", cell: (m) => <Status value={m.stage} /> },
                { header: "aliases", cell: (m) => m.aliases.join(", ") || "–" },
                { header: "validation Sharpe", cell: (m) => (typeof m.metrics?.validation?.sharpe === "number" ? m.metrics.validation.sharpe.toFixed(3) : "–") },
                { header: "dataset", cell: (m) => <IdLink to="/datasets" id={m.dataset_id} /> },
                { header: "run", cell: (m) => <IdLink to="/runs" id={m.run_id} /> },
                { header: "created", cell: (m) => fmtTime(m.created_at) },
              ]}
            />
            {picked.length ? (
              <p>
                <Link to={`/evaluations?${picked.map((p) => `model_id=${p}`).join("&")}`}>
                  Evaluate / compare the {picked.length} picked model(s)
                </Link>
              </p>
            ) : null}
          </>
        ) : null}
      </Section>
    </>
  );
}
