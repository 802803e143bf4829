// TradingView lightweight-charts wrappers: candles + volume, and line/area series over time.
import { useEffect, useRef } from "react";
import {
  AreaSeries,
  CandlestickSeries,
  ColorType,
  createChart,
  HistogramSeries,
  LineSeries,
  type IChartApi,
  type UTCTimestamp,
} from "lightweight-charts";

export const PALETTE = ["#1f6feb", "#d4731a", "#2da44e", "#8250df", "#cf222e", "#6e7781", "#0e8a8a", "#bf8700"];

function seconds(t: string | number): UTCTimestamp {
  return (typeof t === "number" ? t : Math.floor(new Date(t).getTime() / 1000)) as UTCTimestamp;
}

/** Sorted by time, one point per timestamp (lightweight-charts refuses duplicates). */
function clean<T extends { time: UTCTimestamp }>(points: T[]): T[] {
  const sorted = [...points].sort((a, b) => a.time - b.time);
  return sorted.filter((p, i) => i === 0 || p.time !== sorted[i - 1].time);
}

/** A chart in a div of fixed height (autoSize follows its width; the height must not depend on
 * the chart, or the two resize each other forever). */
function useChart(height: number, build: (chart: IChartApi) => void, deps: unknown[]) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    ref.current.style.height = `${height}px`;
    const chart = createChart(ref.current, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "#ffffff" }, textColor: "#24292f", attributionLogo: false },
      grid: { vertLines: { color: "#eef0f3" }, horzLines: { color: "#eef0f3" } },
      timeScale: { borderColor: "#d0d7de" },
      rightPriceScale: { borderColor: "#d0d7de" },
    });
    build(chart);
    chart.timeScale().fitContent();
    return () => chart.remove();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return ref;
}

export interface Candle {
  t: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export function CandleChart({ bars, label }: { bars: Candle[]; label: string }) {
  const ref = useChart(
    380,
    (chart) => {
      const candles = chart.addSeries(CandlestickSeries, {
        upColor: "#2da44e",
        downColor: "#cf222e",
        borderVisible: false,
        wickUpColor: "#2da44e",
        wickDownColor: "#cf222e",
      });
      candles.setData(clean(bars.map((b) => ({ time: seconds(b.t), open: b.open, high: b.high, low: b.low, close: b.close }))));
      const volume = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "" });
      volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
      volume.setData(
        clean(bars.map((b) => ({ time: seconds(b.t), value: b.volume, color: b.close >= b.open ? "#2da44e66" : "#cf222e66" }))),
      );
    },
    [bars],
  );
  return <div ref={ref} className="chart" role="img" aria-label={label} data-testid="candles" />;
}

export interface Series {
  name: string;
  points: Array<{ t: string | number; v: number }>;
  area?: boolean;
}

/** Several series on one time axis, with a legend. `t` is an ISO time or Unix seconds. */
export function LinesChart({ series, label, height = 320 }: { series: Series[]; label: string; height?: number }) {
  const ref = useChart(
    height,
    (chart) => {
      series.forEach((s, i) => {
        const color = PALETTE[i % PALETTE.length];
        const data = clean(
          s.points.filter((p) => Number.isFinite(p.v)).map((p) => ({ time: seconds(p.t), value: p.v })),
        );
        const line = s.area
          ? chart.addSeries(AreaSeries, { lineColor: color, topColor: `${color}55`, bottomColor: `${color}05`, lineWidth: 2 })
          : chart.addSeries(LineSeries, { color, lineWidth: 2 });
        line.setData(data);
      });
    },
    [series],
  );
  return (
    <figure className="figure">
      <div ref={ref} className="chart" role="img" aria-label={label} />
      <figcaption className="legend">
        {series.map((s, i) => (
          <span key={s.name}>
            <i style={{ background: PALETTE[i % PALETTE.length] }} /> {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** A small SVG line chart for step-indexed curves (rewards over timesteps: not a time axis). */
export function StepChart({
  series,
  label,
  xLabel,
}: {
  series: Array<{ name: string; points: Array<[number, number]> }>;
  label: string;
  xLabel: string;
}) {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (all.length === 0) return <p>No points yet.</p>;
  const W = 640;
  const H = 220;
  const P = 40;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => P + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * P);
  const sy = (y: number) => H - P + ((y0 - y) / (y1 - y0)) * (H - 2 * P);
  return (
    <figure className="figure">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} className="svgchart">
        <line x1={P} y1={H - P} x2={W - P} y2={H - P} stroke="#8c959f" />
        <line x1={P} y1={P} x2={P} y2={H - P} stroke="#8c959f" />
        <text x={P} y={P - 8} fontSize="11" fill="#57606a">{y1.toPrecision(3)}</text>
        <text x={P} y={H - P + 14} fontSize="11" fill="#57606a">{y0.toPrecision(3)}</text>
        <text x={W - P} y={H - 8} fontSize="11" fill="#57606a" textAnchor="end">{`${xLabel} ${x1}`}</text>
        {series.map((s, i) => (
          <polyline
            key={s.name}
            fill="none"
            stroke={PALETTE[i % PALETTE.length]}
            strokeWidth="2"
            points={s.points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ")}
          />
        ))}
        {series.map((s, i) =>
          s.points.length <= 60
            ? s.points.map(([x, y], j) => (
                <circle key={`${s.name}-${j}`} cx={sx(x)} cy={sy(y)} r="3" fill={PALETTE[i % PALETTE.length]}>
                  <title>{`${s.name}: ${y} at ${x}`}</title>
                </circle>
              ))
            : null,
        )}
      </svg>
      <figcaption className="legend">
        {series.map((s, i) => (
          <span key={s.name}>
            <i style={{ background: PALETTE[i % PALETTE.length] }} /> {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
