import { useQueries, useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { ApiError, get, type Page } from "../api";
import { fmtTime, IdLink, Loading, ProblemView, Section, Status } from "../components";
import type { Job } from "../types";

// What the public API offers about the fleet: each service answers (a cheap list of the
// resource it owns, through the gateway), the jobs table says what is queued per queue
// (a job's kind is "<service>.<task>") and which workers are busy with what.
const SERVICES: Array<[string, string]> = [
  ["data", "/datasets?limit=1"],
  ["training", "/runs?limit=1"],
  ["tuning", "/studies?limit=1"],
  ["evaluation", "/evaluations?limit=1"],
  ["strategy", "/strategies?limit=1"],
];

function queueOf(kind: string): string {
  return kind.split(".")[0];
}

export default function Overview() {
  const services = useQueries({
    queries: SERVICES.map(([name, path]) => ({
      queryKey: ["service-up", name],
      queryFn: async () => {
        const started = performance.now();
        try {
          await get(path);
          return { ok: true, ms: performance.now() - started, detail: "answers" };
        } catch (err) {
          const detail = err instanceof ApiError ? `${err.status} ${err.message}` : String(err);
          return { ok: false, ms: performance.now() - started, detail };
        }
      },
      refetchInterval: 10_000,
    })),
  });
  const queued = useQuery({
    queryKey: ["jobs", "queued"],
    queryFn: () => get<Page<Job>>("/jobs?status=queued&limit=200"),
    refetchInterval: 5_000,
  });
  const running = useQuery({
    queryKey: ["jobs", "running"],
    queryFn: () => get<Page<Job>>("/jobs?status=running&limit=200"),
    refetchInterval: 5_000,
  });
  const recent = useQuery({
    queryKey: ["jobs", "recent"],
    queryFn: () => get<Page<Job>>("/jobs?limit=15"),
    refetchInterval: 5_000,
  });
  const failed = useQuery({
    queryKey: ["jobs", "failed"],
    queryFn: () => get<Page<Job>>("/jobs?status=failed&limit=10"),
    refetchInterval: 10_000,
  });

  const depth = new Map<string, number>();
  for (const j of queued.data?.items ?? []) depth.set(queueOf(j.kind), (depth.get(queueOf(j.kind)) ?? 0) + 1);
  const busy = new Map<string, Job[]>();
  for (const j of running.data?.items ?? []) {
    const w = j.worker ?? "(unknown worker)";
    busy.set(w, [...(busy.get(w) ?? []), j]);
  }

  return (
    <>
      <h1>Overview</h1>
      <div className="grid2">
        <Section title="Services">
          <table>
            <thead>
              <tr>
                <th scope="col">service</th>
                <th scope="col">API</th>
                <th scope="col">queued jobs</th>
                <th scope="col">answer</th>
              </tr>
            </thead>
            <tbody>
              {SERVICES.map(([name], i) => {
                const s = services[i].data;
                return (
                  <tr key={name}>
                    <td>{name}</td>
                    <td>{s ? <Status value={s.ok ? "ready" : "down"} /> : "…"}</td>
                    <td>{queued.data ? (depth.get(name) ?? 0) : "…"}</td>
                    <td>{s ? (s.ok ? `${s.ms.toFixed(0)} ms` : s.detail) : ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <ProblemView error={queued.error} />
        </Section>
        <Section title="Busy workers">
          {running.isLoading ? <Loading what="workers" /> : null}
          <ProblemView error={running.error} />
          {running.data && busy.size === 0 ? <p>No job is running.</p> : null}
          <ul className="plain">
            {[...busy.entries()].map(([worker, jobs]) => (
              <li key={worker}>
                <code>{worker}</code>: {jobs.map((j) => `${j.kind} ${Math.round(j.progress * 100)}%`).join(", ")}
              </li>
            ))}
          </ul>
        </Section>
      </div>
      <Section title="Recent jobs" actions={<Link to="/jobs">All jobs</Link>}>
        <ProblemView error={recent.error} />
        {recent.data ? <JobRows jobs={recent.data.items} /> : <Loading what="jobs" />}
      </Section>
      <Section title="Recent failures">
        <ProblemView error={failed.error} />
        {failed.data ? (
          failed.data.items.length ? (
            <JobRows jobs={failed.data.items} showError />
          ) : (
            <p>No failed job.</p>
          )
        ) : (
          <Loading what="failures" />
        )}
      </Section>
    </>
  );
}

export function resourcePath(j: Job): string | null {
  const map: Record<string, string> = {
    dataset: "/datasets",
    run: "/runs",
    evaluation: "/evaluations",
    study: "/studies",
    paper_session: "/paper-sessions",
  };
  return j.resource_type && map[j.resource_type] ? map[j.resource_type] : null;
}

function JobRows({ jobs, showError }: { jobs: Job[]; showError?: boolean }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">job</th>
          <th scope="col">kind</th>
          <th scope="col">status</th>
          <th scope="col">progress</th>
          <th scope="col">resource</th>
          <th scope="col">created</th>
          {showError ? <th scope="col">error</th> : null}
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id}>
            <td>
              <code title={j.id}>{j.id.slice(0, 8)}</code>
            </td>
            <td>{j.kind}</td>
            <td>
              <Status value={j.status} />
            </td>
            <td>{Math.round(j.progress * 100)}%</td>
            <td>
              {resourcePath(j) ? <IdLink to={resourcePath(j)!} id={j.resource_id} /> : j.resource_type ?? "–"}
            </td>
            <td>{fmtTime(j.created_at)}</td>
            {showError ? <td className="wrap">{j.error}</td> : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
