// The vidagent page: register a video, ask, follow the run's events, show the answer and its evidence.
// Every string from the server goes into textContent, never into HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { video: null, run: null, source: null };

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.detail || `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function status(text, isError = false) {
  $("video-status").textContent = text;
  $("video-status").classList.toggle("error", isError);
}

const seconds = (t) => `${Number(t).toFixed(2)} s`;

// -- videos --------------------------------------------------------------------------------

async function loadVideos(selectId) {
  const videos = await api("/api/videos");
  const select = $("videos");
  select.replaceChildren(el("option", { value: "", textContent: videos.length ? "choose a video" : "no videos yet" }));
  for (const v of videos) {
    select.append(el("option", { value: v.id, textContent: `${v.name} (${seconds(v.duration_s)}, ${v.width}x${v.height})` }));
  }
  state.videos = Object.fromEntries(videos.map((v) => [v.id, v]));
  if (selectId) selectVideo(selectId);
}

function selectVideo(id) {
  const video = state.videos?.[id];
  state.video = video || null;
  $("videos").value = video ? id : "";
  $("ask").disabled = !video;
  $("player").src = video ? `/api/videos/${id}/file` : "";
  $("timeline").replaceChildren();
}

async function upload(file) {
  status(`uploading ${file.name} (${(file.size / 1e6).toFixed(1)} MB)...`);
  try {
    const video = await api(`/api/videos/upload?name=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    status(`${video.name}: ${seconds(video.duration_s)}, ${video.n_frames} frames, ${video.width}x${video.height}`);
    await loadVideos(video.id);
  } catch (err) {
    status(err.message, true);
  }
}

async function registerPath(path) {
  try {
    const video = await api("/api/videos/path", {
      method: "POST", body: JSON.stringify({ path }), headers: { "Content-Type": "application/json" },
    });
    status(`${video.name}: ${seconds(video.duration_s)}, ${video.n_frames} frames`);
    await loadVideos(video.id);
  } catch (err) {
    status(err.message, true);
  }
}

// -- runs ----------------------------------------------------------------------------------

async function ask(event) {
  event.preventDefault();
  if (!state.video) return;
  const options = $("options").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const body = { video_id: state.video.id, question: $("question").value, options: options.length ? options : null };
  clearRun();
  $("ask").disabled = true;
  try {
    const run = await api("/api/runs", {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    });
    follow(run.id);
  } catch (err) {
    addStep("error", err.message);
    $("ask").disabled = false;
  }
}

function clearRun() {
  state.source?.close();
  $("steps").replaceChildren();
  $("answer-text").textContent = "Working...";
  $("answer-text").classList.add("muted");
  $("answer-meta").textContent = "";
  $("evidence-list").replaceChildren();
  $("evidence-frames").replaceChildren();
  $("timeline").replaceChildren();
}

function addStep(kind, ...parts) {
  $("steps").append(el("li", {}, el("span", { className: "kind", textContent: `${kind} ` }), ...parts));
  $("steps").lastChild.scrollIntoView({ block: "nearest" });
}

const STEP_VIEWS = {
  queued: (d) => addStep("queued", d.question),
  started: (d) => addStep("started", `planner ${d.planner}, tools ${d.profile}`),
  progress: (d) => addStep("…", d.message),
  plan: (d) => addStep(`step ${d.index + 1}`, `${d.action}${d.thought ? ": " + d.thought : ""}`,
    el("span", { className: "muted", textContent: ` (${d.planner_seconds.toFixed(2)} s, ${d.prompt_tokens}+${d.completion_tokens} tokens)` }),
    ...(d.error ? [el("div", { className: "error", textContent: d.error })] : [])),
  tools: (d) => d.calls.forEach((c) => addStep(c.status === "ok" ? "tool" : `tool ${c.status}`,
    el("code", { textContent: `${c.name}(${JSON.stringify(c.args)})` }),
    el("span", { className: "muted", textContent: ` ${c.seconds.toFixed(2)} s${c.cache_hit ? ", cached" : ""}` }),
    el("div", { className: "obs", textContent: c.observation }))),
  answer: (d) => addStep("answer", d.status),
  error: (d) => addStep("error", el("span", { className: "error", textContent: d.message })),
};

function follow(runId) {
  state.run = runId;
  const source = new EventSource(`/api/runs/${runId}/events`);
  state.source = source;
  for (const [type, view] of Object.entries(STEP_VIEWS)) {
    source.addEventListener(type, (e) => view(JSON.parse(e.data)));
  }
  source.addEventListener("end", async () => {
    source.close();
    await showRun(runId);
    $("ask").disabled = !state.video;
    loadRuns();
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) addStep("error", "the event stream closed"); };
}

async function showRun(runId) {
  const run = await api(`/api/runs/${runId}`);
  const answer = run.answer;
  const text = $("answer-text");
  if (!answer) {
    text.textContent = `No answer (${run.state}): ${run.error || ""}`;
    return;
  }
  if (answer.status !== "answered") {
    text.textContent = `No answer (${answer.status}) ${answer.error || ""}`;
  } else {
    const choice = answer.choice !== null && run.options ? `(${answer.choice}) ${run.options[answer.choice]}: ` : "";
    text.textContent = choice + answer.answer;
    text.classList.remove("muted");
  }
  const t = answer.trace.totals;
  $("answer-meta").textContent = `${t.steps} steps, ${t.tool_calls} tool calls, ${t.wall_seconds.toFixed(1)} s` +
    (answer.confidence !== null ? `, confidence ${answer.confidence.toFixed(2)}` : "");
  showEvidence(run.id, answer.evidence);
}

function seek(time) {
  const player = $("player");
  player.currentTime = time;
  player.pause();
}

function showEvidence(runId, evidence) {
  const duration = state.video?.duration_s || Math.max(1, ...evidence.map((e) => e.time_s));
  const timeline = $("timeline");
  const list = $("evidence-list");
  timeline.replaceChildren();
  list.replaceChildren();
  evidence.forEach((e, i) => {
    const label = `${seconds(e.time_s)} (frame ${e.frame_index})${e.note ? ": " + e.note : ""}`;
    timeline.append(el("button", {
      className: "evidence-marker", type: "button", title: label, ariaLabel: `evidence ${i + 1} at ${seconds(e.time_s)}`,
      onclick: () => seek(e.time_s),
    }));
    timeline.lastChild.style.left = `${Math.min(100, (100 * e.time_s) / duration)}%`;
    list.append(el("li", {}, el("button", { type: "button", textContent: label, onclick: () => seek(e.time_s) })));
  });
  const frames = [...new Set(evidence.map((e) => e.frame_index))].slice(0, 6);
  $("evidence-frames").replaceChildren(...frames.map((index) => el("figure", {},
    el("img", { className: "evidence-frame", src: `/api/runs/${runId}/frames/${index}`, alt: `frame ${index}` }),
    el("figcaption", { textContent: `frame ${index}` }))));
}

// -- history -------------------------------------------------------------------------------

async function loadRuns() {
  const runs = await api("/api/runs?limit=30");
  $("runs").replaceChildren(...runs.map((r) => el("li", {
    onclick: async () => {
      clearRun();
      if (state.videos?.[r.video_id]) selectVideo(r.video_id);
      for (const e of await api(`/api/runs/${r.id}/steps`)) STEP_VIEWS[e.type]?.({ ...e.data });
      if (r.state === "queued" || r.state === "running") follow(r.id); else showRun(r.id);
    },
  }, el("span", { className: "q", textContent: r.question }),
     el("span", { className: "a", textContent: r.answer ?? r.status ?? r.state }))));
}

async function loadEvals() {
  const runs = await api("/api/evals");
  $("evals").replaceChildren(...runs.map((r) => el("li", {
    onclick: () => { $("report").hidden = false; $("report").src = `/api/evals/${encodeURIComponent(r.name)}/report`; },
  }, el("span", { className: "q", textContent: `${r.name}: ${r.suite} / ${r.pipeline}` }),
     el("span", { className: "a", textContent: `${(100 * r.accuracy).toFixed(1)}% of ${r.n}` }))));
  if (!runs.length) $("evals").append(el("li", { className: "muted", textContent: "none (start with --eval-root DIR)" }));
}

// -- start ---------------------------------------------------------------------------------

function wire() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => e.target.files[0] && upload(e.target.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
  });
  $("path-form").addEventListener("submit", (e) => { e.preventDefault(); registerPath($("path").value); });
  $("videos").addEventListener("change", (e) => selectVideo(e.target.value));
  $("ask-form").addEventListener("submit", ask);
}

async function start() {
  wire();
  try {
    const info = await api("/api/info");
    $("info").textContent = `planner ${info.planner} · tools ${info.profile}`;
    $("path-form").hidden = info.video_roots === 0;
    await Promise.all([loadVideos(), loadRuns(), loadEvals()]);
  } catch (err) {
    status(err.message, true);
  }
}

start();
