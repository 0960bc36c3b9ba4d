"""The two pages the server hands out, as strings (no template engine, no
files to find at run time).

``/`` sends the browser's camera and shows the avatar in ``<video id="avatar">``;
``/overlay`` receives the overlay track (colour | mask side by side: WebRTC video
has no alpha channel) and composites it into ``<canvas id="overlay">`` on a
transparent page for an OBS browser source. Both pass the page's ``?token=`` on
to every request they make, and offer ICE host candidates only (no STUN/TURN).
"""

from __future__ import annotations

# Shared by both pages: the token travels on every request; the offer is sent
# once ICE gathering is complete (no trickle: aiortc answers with all its
# candidates at once).
_COMMON_JS = r"""
const TOKEN = new URLSearchParams(location.search).get("token");
function api(path) {
  if (!TOKEN) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}
async function negotiate(pc, path) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await fetch(api(path), {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({sdp: pc.localDescription.sdp, type: pc.localDescription.type}),
  });
  const body = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  await pc.setRemoteDescription({sdp: body.sdp, type: body.type});
  return body;
}
"""

INDEX_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vivicam</title>
<style>
  body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.5em; }
  video { width: 640px; max-width: 100%; background: #000; display: block; margin: 1em 0; }
  button, select { font-size: 1em; margin-right: .5em; }
  #message { color: #f88; min-height: 1.2em; }
  #stats { font-variant-numeric: tabular-nums; color: #aaa; }
</style>
</head>
<body>
<h1>vivicam</h1>
<p>
  <button id="start">Start</button>
  <button id="recalibrate" disabled>Recalibrate</button>
  <label>Avatar <select id="avatars" disabled></select></label>
</p>
<p id="message"></p>
<video id="avatar" autoplay playsinline muted></video>
<p id="stats">fps – · latency –</p>
<script>
__COMMON_JS__
let pc = null, session = null;
const $ = (id) => document.getElementById(id);
function say(text) { $("message").textContent = text; }

async function loadAvatars() {
  const response = await fetch(api("/avatars"));
  if (!response.ok) return;
  const list = await response.json();
  $("avatars").replaceChildren(...list.avatars.map((name, i) => new Option(name, i)));
}

async function start() {
  $("start").disabled = true;
  say("");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
    pc = new RTCPeerConnection({iceServers: []});
    stream.getTracks().forEach((track) => pc.addTrack(track, stream));
    pc.addEventListener("track", (event) => {
      $("avatar").srcObject = event.streams[0] || new MediaStream([event.track]);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc && ["failed", "closed"].includes(pc.connectionState)) say("the connection to the server was lost");
    });
    const answer = await negotiate(pc, "/offer");
    session = answer.session;
    $("avatars").value = String(answer.avatar);
    $("recalibrate").disabled = false;
    $("avatars").disabled = false;
    say("calibrating: look at the camera with a relaxed face for a second");
    setTimeout(() => { if ($("message").textContent.startsWith("calibrating")) say(""); }, 3000);
  } catch (error) {
    say(String(error.message || error));
    if (pc) { pc.close(); pc = null; }
    $("start").disabled = false;
  }
}

async function post(path, body) {
  if (!session) return;
  const response = await fetch(api(`/session/${session}/${path}`), {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {}),
  });
  if (!response.ok) say((await response.json().catch(() => ({}))).error || response.statusText);
}

// fps: frames the page received; latency: the server's camera-frame-to-sent
// time plus the browser's network round trip / 2 and its jitter-buffer delay.
let lastFrames = null, lastTime = null;
async function showStats() {
  if (!pc || !session) return;
  let frames = null, jitter = 0, rtt = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      frames = r.framesDecoded;
      if (r.jitterBufferEmittedCount) jitter = 1000 * r.jitterBufferDelay / r.jitterBufferEmittedCount;
    }
    if (r.type === "candidate-pair" && r.nominated && r.currentRoundTripTime) rtt = 1000 * r.currentRoundTripTime;
  });
  const now = performance.now();
  let fps = null;
  if (frames !== null && lastFrames !== null) fps = 1000 * (frames - lastFrames) / (now - lastTime);
  lastFrames = frames; lastTime = now;
  const response = await fetch(api(`/session/${session}/stats`));
  if (!response.ok) return;
  const server = await response.json();
  await paceCamera(server.camera_fps || server.fps);
  const latency = server.latency_ms === null ? null : server.latency_ms + rtt / 2 + jitter;
  $("stats").textContent = `fps ${fps === null ? "–" : fps.toFixed(1)} · latency ${latency === null ? "–" : latency.toFixed(0) + " ms"}`;
}

// Send the server only a little more camera frames than it renders: frames it would drop
// anyway still cost it a decode each, and a decoder that falls behind queues
// frames (latency grows). The headroom lets the rate climb back when it can.
async function paceCamera(serverFps) {
  const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === "video");
  if (!sender || !serverFps) return;
  const target = Math.max(5, Math.min(30, Math.round(serverFps * 1.25 + 1)));
  const parameters = sender.getParameters();
  if (!parameters.encodings || !parameters.encodings.length) return;
  const current = parameters.encodings[0].maxFramerate || 30;
  if (Math.abs(current - target) < 2) return;
  parameters.encodings[0].maxFramerate = target;
  await sender.setParameters(parameters).catch(() => {});
}

$("start").addEventListener("click", start);
$("recalibrate").addEventListener("click", () => post("recalibrate"));
$("avatars").addEventListener("change", () => post("avatar", {index: Number($("avatars").value)}));
// a closed page frees its session at once; a vanished one times out on the server
window.addEventListener("pagehide", () => {
  if (session) navigator.sendBeacon(api(`/session/${session}/close`));
});
setInterval(showStats, 1000);
loadAvatars();
</script>
</body>
</html>
""".replace("__COMMON_JS__", _COMMON_JS)

OVERLAY_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vivicam overlay</title>
<style>
  html, body { background: transparent; margin: 0; overflow: hidden; }
  /* hidden but rendering: Chrome does not play a display:none video */
  video { position: fixed; left: 0; top: 0; width: 1px; height: 1px; opacity: 0; pointer-events: none; }
  canvas { display: block; }
</style>
</head>
<body>
<canvas id="overlay" width="0" height="0"></canvas>
<video id="source" autoplay playsinline muted></video>
<script>
__COMMON_JS__
const video = document.getElementById("source");
const canvas = document.getElementById("overlay");
const out = canvas.getContext("2d");
const scratch = document.createElement("canvas");
const work = scratch.getContext("2d", {willReadFrequently: true});

// The track is colour | mask side by side: the left half's pixels with the
// right half's brightness as alpha. Video coding leaves a few levels of noise
// in the mask; near-black is fully transparent, near-white fully opaque.
function draw() {
  const w = video.videoWidth / 2, h = video.videoHeight;
  if (w >= 1 && h >= 1) {
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w; canvas.height = h; scratch.width = 2 * w; scratch.height = h;
    }
    work.drawImage(video, 0, 0);
    const colour = work.getImageData(0, 0, w, h);
    const mask = work.getImageData(w, 0, w, h).data;
    const px = colour.data;
    for (let i = 0; i < px.length; i += 4) {
      const m = mask[i];
      px[i + 3] = m <= 12 ? 0 : m >= 243 ? 255 : m;
    }
    out.putImageData(colour, 0, 0);
  }
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(draw);
  else requestAnimationFrame(draw);
}

async function connect() {
  const pc = new RTCPeerConnection({iceServers: []});
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addEventListener("track", (event) => {
    video.srcObject = new MediaStream([event.track]);
    video.play().catch(() => {});
  });
  pc.addEventListener("connectionstatechange", () => {
    if (["failed", "closed"].includes(pc.connectionState)) { pc.close(); setTimeout(connect, 2000); }
  });
  try {
    await negotiate(pc, "/overlay/offer");
  } catch (error) {
    pc.close();
    setTimeout(connect, 2000);
  }
}
video.addEventListener("loadeddata", draw, {once: true});
connect();
</script>
</body>
</html>
""".replace("__COMMON_JS__", _COMMON_JS)
