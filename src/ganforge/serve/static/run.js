// A run's page. The server pushes the run (event "run") and then its new epochs ("records");
// the page never polls and never reloads. Tabs: training (curves, grids, diagnosis, config) and
// the generator playground (play.js).
import { METRICS, PANELS, PanelChart, compareChart } from "./charts.js";
import { badge, crumbs, el, fmt, getJSON, listen } from "./dom.js";
import { showPlayground } from "./play.js";

const pad = (n) => String(n).padStart(4, "0");

function header(detail) {
  const tab = (id, label) => el("a", {
    href: `#/run/${encodeURIComponent(detail.name)}${id === "play" ? "/play" : ""}`, "data-tab": id,
  }, label);
  return el("div", { class: "card" },
    el("h1", {}, detail.name, " ", badge(detail)),
    el("div", { class: "muted" },
      `${detail.dataset ?? "?"} · preset ${detail.preset ?? "?"} · ${detail.arch ?? "?"} · ${detail.loss ?? "?"} loss · `,
      el("span", { class: "epochs" }, `epoch ${detail.epochs_done} of ${detail.epochs ?? "?"}`),
      detail.last_fid === null ? "" : ` · judge FID ${fmt(detail.last_fid, 2)}`,
      detail.state === "finished" ? "" : ` · ${detail.state_detail}`),
    ...detail.notes.map((n) => el("p", { class: "note" }, n)),
    el("nav", { class: "tabs" }, tab("training", "Training"), tab("play", "Generator playground")),
  );
}

function findings(detail) {
  if (!detail.findings.length) {
    return el("p", { class: "muted" }, detail.records.length
      ? "No warnings: D and G look balanced, and the samples vary." : "No epoch yet, so nothing to judge.");
  }
  return el("ul", { class: "findings" }, ...detail.findings.map((f) => el("li", {}, el("b", {}, `Epoch ${f.epoch}: `), f.message)));
}

function configTable(config) {
  const rows = Object.entries(config || {}).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, JSON.stringify(v))));
  return rows.length ? el("div", { class: "config-cols" }, el("table", { class: "config" }, ...rows))
    : el("p", { class: "muted" }, "config.yaml is not there (yet).");
}

class SampleViewer {
  // The grid of every epoch on a slider; it follows new epochs while it sits at the newest.
  constructor(name) {
    this.name = name;
    this.epochs = [];
    this.slider = el("input", { type: "range", min: 0, max: 0, value: 0, "aria-label": "epoch" });
    this.label = el("span", { class: "grid-epoch" });
    this.image = el("img", { class: "grid", alt: "fixed-noise samples" });
    this.gif = el("img", { class: "gif", alt: "progress GIF" });
    this.gifBox = el("div", { class: "gif-view" }, el("h2", {}, "Progress GIF"), this.gif);
    this.slider.addEventListener("input", () => this.showAt(Number(this.slider.value)));
    this.node = el("div", { class: "row" },
      el("div", { class: "grid-view" }, el("h2", {}, "Samples, epoch by epoch"),
        el("div", { class: "controls" }, this.slider, this.label), this.image),
      this.gifBox);
  }

  update(detail) {
    const following = Number(this.slider.value) >= this.epochs.length - 1;
    this.epochs = detail.sample_epochs;
    this.slider.max = Math.max(0, this.epochs.length - 1);
    if (following || !this.image.src) this.slider.value = this.slider.max;
    this.showAt(Number(this.slider.value));
    this.gifBox.hidden = !detail.gif;
    if (detail.gif) this.gif.src = `${detail.gif}?v=${detail.updated}`;
  }

  showAt(index) {
    const epoch = this.epochs[index];
    this.label.textContent = epoch ? `epoch ${epoch}` : "no grid yet";
    if (epoch) this.image.src = `/files/${encodeURIComponent(this.name)}/samples/epoch_${pad(epoch)}.png`;
  }
}

class Compare {
  // One metric of this run and any others, overlaid.
  constructor(name) {
    this.name = name;
    this.metric = el("select", { name: "metric" }, ...METRICS.map(([key, label]) => el("option", { value: key }, label)));
    this.choices = el("span", { class: "controls" });
    this.box = el("div", { class: "chart" });
    this.plot = null;
    this.metric.addEventListener("change", () => this.draw());
    this.node = el("div", {}, el("h2", {}, "Compare runs"),
      el("div", { class: "controls" }, el("label", {}, "metric ", this.metric), this.choices), this.box);
  }

  async load(self) {
    this.self = self;
    const others = (await getJSON("/api/runs")).filter((r) => r.name !== this.name);
    this.choices.replaceChildren(...(others.length ? others.map((r) => el("label", {},
      el("input", { type: "checkbox", value: r.name, onchange: () => this.draw() }), r.name))
      : [el("span", { class: "muted" }, "no other runs in this folder")]));
    this.draw();
  }

  async draw() {
    const picked = [...this.choices.querySelectorAll("input:checked")].map((i) => i.value);
    const runs = [this.self(), ...(await Promise.all(picked.map((n) => getJSON(`/api/runs/${encodeURIComponent(n)}`))))];
    if (this.plot) this.plot.destroy();
    this.plot = compareChart(this.box, this.metric.value, runs);
  }

  destroy() { if (this.plot) this.plot.destroy(); }
}

export function showRun(main, name, tab) {
  const root = el("section", { id: "run", "data-run": name, "data-epochs": "0", "data-live-records": "0", "data-tab": tab });
  const top = el("div");
  const body = el("div");
  main.replaceChildren(root);
  root.append(top, body);
  crumbs(el("a", { href: "#/" }, "runs"), name);
  let detail = null;
  let liveRecords = 0;
  const charts = [];
  const samples = new SampleViewer(name);
  const compare = new Compare(name);
  const diagnosis = el("div");
  const config = el("div");

  function buildTraining() {
    const chartBox = el("div", { class: "charts" });
    body.replaceChildren(
      el("div", { class: "card" }, el("h2", {}, "Curves"), chartBox),
      el("div", { class: "card" }, samples.node),
      el("div", { class: "card" }, el("h2", {}, "Diagnosis"), diagnosis),
      el("div", { class: "card" }, compare.node),
      el("div", { class: "card" }, el("h2", {}, "Resolved config"), config));
    for (const panel of PANELS) charts.push(new PanelChart(chartBox, panel));
    compare.load(() => detail);
  }

  function refresh(full) {
    top.replaceChildren(header(detail));
    top.querySelector(`[data-tab="${tab}"]`).classList.add("on");
    root.dataset.epochs = String(detail.epochs_done);
    root.dataset.liveRecords = String(liveRecords);
    if (tab !== "training") return;
    for (const chart of charts) chart.show(detail.records);
    samples.update(detail);
    diagnosis.replaceChildren(findings(detail));
    if (full) config.replaceChildren(configTable(detail.config));
  }

  const onResize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", onResize);
  const stop = listen(`/api/runs/${encodeURIComponent(name)}/stream`, {
    run(next) {
      const first = detail === null;
      detail = next;
      if (first) {
        if (tab === "training") buildTraining();
        else body.replaceChildren(showPlayground(detail));
      }
      refresh(true);
    },
    records(change) {
      liveRecords += change.records.length;
      detail = { ...change.run, records: detail.records.concat(change.records) };
      refresh(false);
    },
    gone() {
      body.replaceChildren(el("p", { class: "error" }, "This run folder is gone."));
    },
  });
  getJSON(`/api/runs/${encodeURIComponent(name)}`).catch((err) => {
    body.replaceChildren(el("p", { class: "error" }, err.message));  // e.g. no such run: the stream gives no reason
  });
  return () => {
    stop();
    window.removeEventListener("resize", onResize);
    charts.forEach((c) => c.destroy());
    compare.destroy();
  };
}
