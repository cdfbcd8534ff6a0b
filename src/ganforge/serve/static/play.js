// The generator playground: draw images for a class and seed, read the judge's verdict on each,
// and walk the latent space between two seeds (or two picked images). Image k of a draw uses
// seed + k, so each one is `ganforge generate RUN --n 1 --seed S` and can be a walk's end.
// An image-to-image run gets translate.js instead: its generator takes an image, not noise.
// Where a super-resolution run here takes this run's images, both can draw through it (--upscale).
import { el, getJSON } from "./dom.js";
import { showTranslate } from "./translate.js";

function field(label, input) {
  return el("label", {}, label, input);
}

export function showPlayground(detail) {
  const name = detail.name;
  const url = (path, params) => `/api/runs/${encodeURIComponent(name)}/${path}?${new URLSearchParams(params)}`;
  const classes = detail.class_names;
  if (!detail.has_generator) {
    return el("div", { class: "card" }, el("p", { class: "muted" },
      "This run has no generator.safetensors yet; it is written after the first epoch. Come back then."));
  }
  if ((detail.config || {}).task && detail.config.task !== "gan") return showTranslate(detail);
  const classOptions = () => classes.map((c, i) => el("option", { value: i }, `${i}: ${c}`));
  const drawClass = el("select", { name: "label" }, el("option", { value: "" }, "every class in turn"), ...classOptions());
  const seed = el("input", { type: "number", name: "seed", min: 0, value: 1 });
  const count = el("input", { type: "number", name: "n", min: 1, max: 64, value: 16 });
  const upscalers = detail.upscalers || [];
  const upscale = el("select", { name: "upscale" }, el("option", { value: "" }, "none"),
    ...upscalers.map((run) => el("option", { value: run }, run)));
  const withUpscale = (params) => (upscale.value ? { ...params, upscale: upscale.value } : params);
  const upscaleFlag = () => (upscale.value ? ` --upscale ${upscale.value}` : "");
  const drawButton = el("button", { name: "draw" }, "Draw");
  const grid = el("div", { class: "samples" });
  const judgeNote = el("p", { class: "muted judge-note" });
  const drawError = el("p", { class: "error" });

  const walkSeeds = el("input", { type: "text", name: "seeds", value: "1,2" });
  const steps = el("input", { type: "number", name: "steps", min: 2, max: 64, value: 8 });
  const walkClass = el("select", { name: "walk-label" }, ...classOptions());
  const walkButton = el("button", { name: "walk" }, "Walk");
  const strip = el("img", { class: "strip", alt: "latent walk, frame by frame" });
  const anim = el("img", { class: "anim", alt: "latent walk, animated" });
  const download = el("a", { class: "download", download: "walk.gif", hidden: true }, "Download the GIF");
  const command = el("code", { class: "command" });
  const walkError = el("p", { class: "error" });
  const picked = [];

  function pick(image, node) {
    // the last two picked images are the walk's ends
    picked.push({ image, node });
    if (picked.length > 2) picked.shift().node.classList.remove("picked");
    node.classList.add("picked");
    walkSeeds.value = picked.map((p) => p.image.seed).join(",");
    if (image.label !== null) walkClass.value = String(picked[0].image.label);
  }

  function card(image) {
    const label = image.label === null ? "" : ` · ${classes[image.label]}`;
    const verdict = image.verdict && el("div", {
      class: `verdict ${image.label === null || image.label === image.verdict.class ? "agree" : "disagree"}`,
    }, `judge: ${image.verdict.name} ${Math.round(100 * image.verdict.confidence)}%`);
    const again = `ganforge generate RUN --n 1 --seed ${image.seed}${image.label === null ? "" : ` --label ${image.label}`}${upscaleFlag()}`;
    const node = el("div", { class: "sample", "data-seed": image.seed, title: `click to pick for the walk\n${again}` },
      el("img", { src: image.png, alt: `seed ${image.seed}` }), el("div", { class: "cap" }, `seed ${image.seed}${label}`), verdict);
    node.addEventListener("click", () => pick(image, node));
    return node;
  }

  async function draw() {
    drawButton.disabled = true;
    drawError.textContent = "";
    const params = { seed: seed.value, n: count.value };
    if (drawClass.value !== "") params.label = drawClass.value;
    try {
      const result = await getJSON(url("samples", withUpscale(params)));
      picked.length = 0;
      grid.replaceChildren(...result.images.map(card));
      judgeNote.textContent = result.judge.note;
    } catch (err) {
      drawError.textContent = err.message;
    } finally {
      drawButton.disabled = false;
    }
  }

  async function walk() {
    walkButton.disabled = true;
    walkError.textContent = "";
    const params = withUpscale({ seeds: walkSeeds.value.replace(/\s+/g, ""), steps: steps.value });
    if (classes.length) params.label = walkClass.value;
    try {
      const response = await fetch(url("walk", { ...params, format: "png" }));
      if (!response.ok) throw new Error((await response.json()).error);
      if (strip.src.startsWith("blob:")) URL.revokeObjectURL(strip.src);
      strip.src = URL.createObjectURL(await response.blob());
      anim.src = download.href = url("walk", { ...params, format: "gif" });
      download.hidden = false;
      const label = classes.length ? ` --label ${params.label}` : "";
      command.textContent = `ganforge interpolate ${name} --seeds ${params.seeds} --steps ${params.steps}${label}${upscaleFlag()} --out walk.gif`;
    } catch (err) {
      walkError.textContent = err.message;
    } finally {
      walkButton.disabled = false;
    }
  }

  drawButton.addEventListener("click", draw);
  walkButton.addEventListener("click", walk);
  return el("div", {},
    el("div", { class: "card playground" },
      el("h2", {}, "Draw from the generator"),
      el("div", { class: "controls" },
        classes.length ? field("class ", drawClass) : null, field("seed ", seed), field("images ", count),
        upscalers.length ? field("upscale with ", upscale) : null, drawButton),
      drawError, grid, judgeNote,
      el("p", { class: "muted" }, "Each image has its own seed. Click two images to walk from one to the other.")),
    el("div", { class: "card walk" },
      el("h2", {}, "Latent walk (slerp)"),
      el("div", { class: "controls" },
        field("seeds ", walkSeeds), field("steps ", steps), classes.length ? field("class ", walkClass) : null, walkButton),
      el("p", { class: "muted" }, classes.length
        ? "A walk keeps one class throughout: its ends are these seeds' images drawn for that class."
        : "Its ends are the images of the first and last seeds."),
      walkError, strip, el("div", { class: "row" }, anim, el("div", {}, download, el("p", {}, command)))),
  );
}
