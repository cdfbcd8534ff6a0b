// Curves of metrics.jsonl, drawn with uPlot (vendored: static/vendor/uplot). One chart per panel;
// a compare chart overlays one metric of several runs.
import { el } from "./dom.js";

export const COLORS = ["#e4572e", "#3056d3", "#1f8a4c", "#9c27b0", "#b35c00", "#00838f", "#6d4c41", "#c2185b"];

// key in metrics.jsonl, legend label, and (optional) the scale it is drawn on
export const PANELS = [
  { title: "Loss", series: [["g_loss", "G loss"], ["d_loss", "D loss"]] },
  { title: "D accuracy", series: [["d_acc_real", "on real"], ["d_acc_fake", "on fake"]], range: [0, 1] },
  { title: "D outputs (mean)", series: [["d_real", "D(x)"], ["d_fake", "D(G(z))"]] },
  { title: "Judge, during training", series: [["eval_fid", "FID"], ["eval_classes_covered", "classes", "classes"]],
    optional: true },
];

export const METRICS = [
  ["g_loss", "G loss"], ["d_loss", "D loss"], ["d_acc_real", "D accuracy on real"], ["d_acc_fake", "D accuracy on fake"],
  ["d_real", "D(x)"], ["d_fake", "D(G(z))"], ["eval_fid", "judge FID"], ["eval_classes_covered", "classes covered"],
  ["img_per_s", "images per second"],
];

const value = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

function width(container) {
  return Math.max(280, container.clientWidth - 8);
}

function makePlot(container, title, series, data, scales = {}) {
  const axes = [{ label: "epoch" }, {}];
  if (series.some((s) => s.scale === "classes")) axes.push({ scale: "classes", side: 1, grid: { show: false } });
  const options = {
    title, width: width(container), height: 220,
    scales: { x: { time: false }, ...scales },
    series: [{ label: "epoch" }, ...series],
    axes,
  };
  return new uPlot(options, data, container);
}

export class PanelChart {
  constructor(container, panel) {
    this.panel = panel;
    this.box = el("div", { class: "chart", "data-panel": panel.title });
    container.append(this.box);
    const series = panel.series.map(([key, label, scale], i) => ({
      label, stroke: COLORS[i], width: 2, spanGaps: true, scale: scale || "y", points: { size: 5 },
    }));
    const scales = panel.range ? { y: { range: panel.range } } : {};
    this.plot = makePlot(this.box, panel.title, series, this.columns([]), scales);
  }

  columns(records) {
    return [records.map((r) => r.epoch), ...this.panel.series.map(([key]) => records.map((r) => value(r[key])))];
  }

  show(records) {
    const has = !this.panel.optional || records.some((r) => value(r[this.panel.series[0][0]]) !== null);
    this.box.hidden = !has;
    if (has) {
      this.resize();
      this.plot.setData(this.columns(records));
    }
  }

  resize() { if (!this.box.hidden) this.plot.setSize({ width: width(this.box), height: 220 }); }
  destroy() { this.plot.destroy(); this.box.remove(); }
}

// One metric of several runs on one chart; epochs missing from a run are gaps.
export function compareChart(container, metric, runs) {
  const epochs = [...new Set(runs.flatMap((run) => run.records.map((r) => r.epoch)))].sort((a, b) => a - b);
  const columns = runs.map((run) => {
    const byEpoch = new Map(run.records.map((r) => [r.epoch, value(r[metric])]));
    return epochs.map((e) => byEpoch.get(e) ?? null);
  });
  const series = runs.map((run, i) => ({ label: run.name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true }));
  const label = (METRICS.find(([key]) => key === metric) || [metric, metric])[1];
  return makePlot(container, `${label}, run by run`, series, [epochs, ...columns]);
}
