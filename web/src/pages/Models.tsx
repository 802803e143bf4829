import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { get, qs, type Page } from "../api";
import { fmtTime, IdLink, Loading, ProblemView, Section, Status } from "../components";
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
            <table>
              <thead>
                <tr>
                  <th scope="col">
                    <span className="sr-only">compare</span>
                  </th>
                  <th scope="col">model</th>
                  <th scope="col">algorithm</th>
                  <th scope="col">seed</th>
                  <th scope="col">stage</th>
                  <th scope="col">aliases</th>
                  <th scope="col">validation Sharpe</th>
                  <th scope="col">dataset</th>
                  <th scope="col">run</th>
                  <th scope="col">created</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`pick model ${m.id.slice(0, 8)} to compare`}
                        checked={picked.includes(m.id)}
                        onChange={(e) => setPicked(e.target.checked ? [...picked, m.id] : picked.filter((p) => p !== m.id))}
                      />
                    </td>
                    <td>
                      <IdLink to="/models" id={m.id} />
                    </td>
                    <td>{m.algorithm}</td>
                    <td>{m.seed}</td>
                    <td>
                      <Status value={m.stage} />
                    </td>
                    <td>{m.aliases.join(", ") || "–"}</td>
                    <td>{typeof m.metrics?.validation?.sharpe === "number" ? m.metrics.validation.sharpe.toFixed(3) : "–"}</td>
                    <td>
                      <IdLink to="/datasets" id={m.dataset_id} />
                    </td>
                    <td>
                      <IdLink to="/runs" id={m.run_id} />
                    </td>
                    <td>{fmtTime(m.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
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
