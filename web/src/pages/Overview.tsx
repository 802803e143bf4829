import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { get, type Page } from "../api";
import { DataTable, fmtTime, IdLink, Loading, ProblemView, Section, Status } from "../components";
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
          <DataTable
            label="Services: readiness, queue and workers"
            rows={s.services}
            rowKey={(svc) => svc.name}
            columns={[
              { header: "service", cell: (svc) => svc.name },
              { header: "readiness", cell: (svc) => <Status value={svc.status} /> },
              {
                header: "checks",
                className: "wrap",
                cell: (svc) =>
                  svc.error ??
                  Object.entries(svc.checks)
                    .map(([k, c]) => (c.ok ? `${k} ${c.ms ?? ""} ms` : `${k}: ${c.error ?? "failed"}`))
                    .join(" · "),
              },
              { header: "queued", cell: (svc) => queueOf.get(svc.name)?.depth ?? "?" },
              { header: "workers", cell: (svc) => queueOf.get(svc.name)?.workers.length ?? "?" },
            ]}
          />
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
            <DataTable
              label="Workers and the queues they consume"
              rows={s.workers}
              rowKey={(w) => w.name}
              columns={[
                { header: "worker", cell: (w) => <code>{w.name}</code> },
                { header: "queues", cell: (w) => w.queues.join(", ") },
              ]}
            />
          ) : null}
        </Section>
        <Section title="Queues">
          {s ? (
            <DataTable
              label="Queue depths"
              rows={s.queues}
              rowKey={(q) => q.name}
              columns={[
                { header: "queue", cell: (q) => q.name },
                { header: "waiting", cell: (q) => q.depth ?? "?" },
                { header: "consumers", cell: (q) => q.workers.length },
              ]}
            />
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
  if (!jobs.length) return <p>No job yet.</p>;
  return (
    <DataTable
      rows={jobs}
      rowKey={(j) => j.id}
      columns={[
        { header: "job", cell: (j) => <code title={j.id}>{j.id.slice(0, 8)}</code> },
        { header: "kind", cell: (j) => j.kind },
        { header: "status", cell: (j) => <Status value={j.status} /> },
        { header: "progress", cell: (j) => `${Math.round(j.progress * 100)}%` },
        { header: "resource", cell: (j) => (resourcePath(j) ? <IdLink to={resourcePath(j)!} id={j.resource_id} /> : (j.resource_type ?? "–")) },
        { header: "created", cell: (j) => fmtTime(j.created_at) },
        !!showError && { header: "error", className: "wrap", cell: (j) => j.error },
      ]}
    />
  );
}
