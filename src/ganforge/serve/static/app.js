// The page: a runs list (#/) and a run page (#/run/NAME, #/run/NAME/play). Views are swapped
// on hash changes, never by reloading, so live streams and the state of open views survive.
import { badge, crumbs, el, fmt, listen } from "./dom.js";
import { showRun } from "./run.js";

function runRow(run) {
  const link = `#/run/${encodeURIComponent(run.name)}`;
  const thumb = run.thumbnail
    ? el("img", { class: "thumb", src: `${run.thumbnail}?e=${run.epochs_done}`, alt: "" })
    : el("div", { class: "thumb muted" }, "");
  return el("tr", { "data-run": run.name },
    el("td", {}, el("a", { href: link }, thumb)),
    el("td", {}, el("a", { href: link }, run.name), run.notes.length ? el("div", { class: "note" }, run.notes[0]) : null),
    el("td", {}, run.dataset ?? "–"),
    el("td", {}, run.preset ?? "–"),
    el("td", {}, badge(run)),
    el("td", { class: "num epochs" }, `${run.epochs_done} / ${run.epochs ?? "?"}`),
    el("td", { class: "num" }, run.last_fid === null ? "–" : fmt(run.last_fid, 2)),
    el("td", { class: "num" }, run.last_classes ?? "–"),
  );
}

function showRuns(main) {
  crumbs("runs");
  const body = el("tbody");
  const empty = el("p", { class: "muted" }, "No runs here yet. Start one with ganforge train --out <this folder>/NAME; it appears here by itself.");
  main.replaceChildren(
    el("h1", {}, "Runs"),
    el("table", { class: "runs" },
      el("thead", {}, el("tr", {}, ...["", "run", "dataset", "preset", "state", "epochs", "judge FID", "classes"].map((h) => el("th", {}, h)))),
      body),
    empty,
  );
  return listen("/api/stream", {
    runs(list) {
      body.replaceChildren(...list.map(runRow));
      empty.hidden = list.length > 0;
    },
  });
}

const main = document.getElementById("main");
let close = () => {};

function route() {
  close();
  const match = location.hash.match(/^#\/run\/([^/]+)(\/play)?$/);
  close = match ? showRun(main, decodeURIComponent(match[1]), match[2] ? "play" : "training") : showRuns(main);
  window.scrollTo(0, 0);
}

window.addEventListener("hashchange", route);
route();
