// Small helpers the views share: DOM building, JSON fetches, server streams, labels.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

export const fmt = (value, digits = 3) =>
  value === null || value === undefined ? "–" : Number(value).toFixed(digits);

export function badge(run) {
  return el("span", { class: `badge ${run.state}`, title: run.state_detail || "" }, run.state);
}

// A stream from the server; the "live" mark in the header says whether it is connected.
export function listen(url, handlers) {
  const source = new EventSource(url);
  const mark = document.getElementById("live");
  source.onopen = () => mark.classList.remove("off");
  source.onerror = () => mark.classList.add("off");  // EventSource reconnects by itself
  for (const [event, handle] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => handle(JSON.parse(e.data)));
  }
  return () => { source.close(); mark.classList.add("off"); };
}

export function crumbs(...parts) {
  document.getElementById("crumbs").replaceChildren(...parts.flatMap((p) => [" / ", p]));
}
