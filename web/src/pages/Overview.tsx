import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { get, type Page } from "../api";
import { fmtTime, IdLink, Loading, ProblemView, Section, Status } from "../components";
import type { Job, SystemStatus } from "../types";

// GET /api/v1/system/status (answered by the data service for the fleet): each service's
// /readyz, the depth of every Celery queue in Redis and the workers that answer a broadcast;
// the jobs table adds what is running (by worker process) and the recent jobs and failures.
export default function Overview() {
  const status = useQuery({
    queryKey: ["system-status"],
    queryFn: () => get<SystemStatus>("/system/status"),
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

  const s = status.data;
  const queueOf = new Map((s?.queues ?? []).map((q) => [q.name, q]));
  const busy = new Map<string, Job[]>();
  for (const j of running.data?.items ?? []) {
    const w = j.worker ?? "(unknown worker)";
    busy.set(w, [...(busy.get(w) ?? []), j]);
  }

  return (
    <>
      <h1>Overview</h1>
      <Section title="Services">
        <ProblemView error={status.error} />
        {status.isLoading ? <Loading what="the fleet's status" /> : null}
        {s ? (
          <table aria-label="Services: readiness, queue and workers">
            <thead>
              <tr>
                <th scope="col">service</th>
                <th scope="col">readiness</th>
                <th scope="col">checks</th>
                <th scope="col">queued</th>
                <th scope="col">workers</th>
              </tr>
            </thead>
            <tbody>
              {s.services.map((svc) => {
                const q = queueOf.get(svc.name);
                return (
                  <tr key={svc.name}>
                    <td>{svc.name}</td>
                    <td>
                      <Status value={svc.status} />
                    </td>
                    <td className="wrap">
                      {svc.error ??
                        Object.entries(svc.checks)
                          .map(([k, c]) => (c.ok ? `${k} ${c.ms ?? ""} ms` : `${k}: ${c.error ?? "failed"}`))
                          .join(" · ")}
                    </td>
                    <td>{q?.depth ?? "?"}</td>
                    <td>{q ? q.workers.length : "?"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : null}
        {s ? (
          <p className="muted">
            checked {fmtTime(s.checked_at)} by {s.served_by}
            {Object.entries(s.errors).map(([part, err]) => ` · ${part}: ${err}`)}
          </p>
        ) : null}
      </Section>
      <div className="grid2">
        <Section title="Workers">
          {s && s.workers.length === 0 ? <p>No worker answered.</p> : null}
          {s && s.workers.length ? (
            <table aria-label="Workers and the queues they consume">
              <thead>
                <tr>
                  <th scope="col">worker</th>
                  <th scope="col">queues</th>
                </tr>
              </thead>
              <tbody>
                {s.workers.map((w) => (
                  <tr key={w.name}>
                    <td>
                      <code>{w.name}</code>
                    </td>
                    <td>{w.queues.join(", ")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </Section>
        <Section title="Queues">
          {s ? (
            <table aria-label="Queue depths">
              <thead>
                <tr>
                  <th scope="col">queue</th>
                  <th scope="col">waiting</th>
                  <th scope="col">consumers</th>
                </tr>
              </thead>
              <tbody>
                {s.queues.map((q) => (
                  <tr key={q.name}>
                    <td>{q.name}</td>
                    <td>{q.depth ?? "?"}</td>
                    <td>{q.workers.length}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </Section>
      </div>
      <Section title="Running jobs">
        {running.isLoading ? <Loading what="running jobs" /> : null}
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
