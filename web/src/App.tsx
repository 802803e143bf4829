import { lazy, Suspense } from "react";
import { NavLink, Navigate, Route, Routes, useLocation } from "react-router";
import { useAuth } from "./auth";
import { PageBoundary } from "./components";
import Login from "./pages/Login";
import Overview from "./pages/Overview";

// Pages other than the first are separate chunks: the initial bundle stays small.
const Datasets = lazy(() => import("./pages/Datasets"));
const DatasetDetail = lazy(() => import("./pages/DatasetDetail"));
const Runs = lazy(() => import("./pages/Runs"));
const RunDetail = lazy(() => import("./pages/RunDetail"));
const Models = lazy(() => import("./pages/Models"));
const ModelDetail = lazy(() => import("./pages/ModelDetail"));
const Evaluations = lazy(() => import("./pages/Evaluations"));
const EvaluationDetail = lazy(() => import("./pages/EvaluationDetail"));
const Studies = lazy(() => import("./pages/Studies"));
const StudyDetail = lazy(() => import("./pages/StudyDetail"));
const Strategies = lazy(() => import("./pages/Strategies"));
const PaperSessionDetail = lazy(() => import("./pages/PaperSessionDetail"));
const Jobs = lazy(() => import("./pages/Jobs"));

const NAV = [
  ["/", "Overview"],
  ["/datasets", "Datasets"],
  ["/runs", "Runs"],
  ["/models", "Models"],
  ["/evaluations", "Evaluations"],
  ["/studies", "Studies"],
  ["/strategies", "Strategies"],
  ["/jobs", "Jobs"],
] as const;

export default function App() {
  const { session, signOut } = useAuth();
  const location = useLocation();
  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null) return <Login />;
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">tradeopt</span>
        <nav aria-label="Main">
          {NAV.map(([to, label]) => (
            <NavLink key={to} to={to} end={to === "/"}>
              {label}
            </NavLink>
          ))}
        </nav>
        <span className="who">
          {session.name ? `${session.name} · ` : ""}
          {session.canWrite ? "read/write" : "read-only"}
          <button type="button" className="link" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        <PageBoundary key={location.pathname}>
          <Suspense fallback={<p className="loading">Loading…</p>}>
            <Routes>
              <Route path="/" element={<Overview />} />
              <Route path="/datasets" element={<Datasets />} />
              <Route path="/datasets/:id" element={<DatasetDetail />} />
              <Route path="/runs" element={<Runs />} />
              <Route path="/runs/:id" element={<RunDetail />} />
              <Route path="/models" element={<Models />} />
              <Route path="/models/:id" element={<ModelDetail />} />
              <Route path="/evaluations" element={<Evaluations />} />
              <Route path="/evaluations/:id" element={<EvaluationDetail />} />
              <Route path="/studies" element={<Studies />} />
              <Route path="/studies/:id" element={<StudyDetail />} />
              <Route path="/strategies" element={<Strategies />} />
              <Route path="/paper-sessions/:id" element={<PaperSessionDetail />} />
              <Route path="/jobs" element={<Jobs />} />
              <Route path="/login" element={<Navigate to="/" replace />} />
              <Route path="*" element={<p>No page here.</p>} />
            </Routes>
          </Suspense>
        </PageBoundary>
      </main>
    </div>
  );
}
