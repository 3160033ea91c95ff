// The audience page: what a viewer of a live show sees and clicks.

import { PublishError } from "@ovation/sdk";
import { pollMean } from "@ovation/sdk";
import type { Poll, RoomState } from "@ovation/sdk";
import { $, customData, esc, fmt, header, hue, initials, latest, onState, publishing, renderCustom, start, timeAgo, toast } from "./common.js";

/** EMOJI are the reaction buttons, in order. */
const EMOJI = ["👏", "❤️", "🔥", "😂", "🎉", "😮"];

const s = start("guest");
const app = $("#app");
app.append(header(s, "live room", { href: `/host${location.search}`, text: "Host console →" }));
const main = document.createElement("main");
main.className = "grid";
main.innerHTML = `
  <section class="col">
    <div class="card reactions">
      <div class="card-head"><h2>Reactions</h2><span class="muted" data-testid="reactions-total">0 total</span></div>
      <div class="emoji-row">${EMOJI.map((e) => `
        <button class="emoji" data-action="react" data-emoji="${e}" aria-label="react ${e}">
          <span class="e">${e}</span><span class="n" data-testid="reaction-count" data-emoji="${e}">0</span>
        </button>`).join("")}
      </div>
      <div class="extra-emoji" id="extra-emoji"></div>
    </div>
    <div class="card poll" id="poll" data-testid="poll"></div>
    <div class="card" id="custom" data-testid="custom-card" hidden></div>
    <div class="card quiz" id="quiz"></div>
  </section>
  <section class="col">
    <div class="card chat">
      <div class="card-head"><h2>Chat</h2><span class="muted" data-testid="chat-total">0 messages</span></div>
      <p class="pinned" data-testid="pinned" hidden></p>
      <ol class="chat-list" id="chat" data-testid="chat"></ol>
      <p class="controls muted small" data-testid="controls" hidden></p>
      <p class="banned" data-testid="banned" hidden></p>
      <form class="composer" id="chat-form" autocomplete="off">
        <input name="text" maxlength="500" placeholder="Say something nice…" aria-label="chat message" data-testid="chat-input" />
        <button type="submit" class="primary" data-testid="chat-send">Send</button>
      </form>
      <p class="muted small" data-testid="slow-countdown" hidden></p>
    </div>
    <div class="card qa">
      <div class="card-head"><h2>Q&amp;A</h2><span class="muted" id="qa-count">0 questions</span></div>
      <form class="composer" id="qa-form" autocomplete="off">
        <input name="text" maxlength="300" placeholder="Ask the speaker a question…" aria-label="question" data-testid="qa-input" />
        <button type="submit">Ask</button>
      </form>
      <ol class="qa-list" id="qa"></ol>
    </div>
  </section>`;
app.append(main);

// What this viewer did: the room state holds only totals, so the page
// remembers its own choices to highlight them.
const myVotes = new Map<string, number>();
const myAnswers = new Map<string, number>();
const myUpvotes = new Set<string>();
const myPicks = new Map<string, number[]>(); // multi: picks; ranking: order; rating: [value]

function floatEmoji(btn: HTMLElement, emoji: string): void {
  const f = document.createElement("span");
  f.className = "float";
  f.textContent = emoji;
  f.style.left = `${20 + Math.random() * 60}%`;
  btn.append(f);
  setTimeout(() => f.remove(), 1200);
}

main.addEventListener("click", (ev) => {
  const t = (ev.target as HTMLElement).closest<HTMLElement>("[data-action]");
  if (!t || (t as HTMLButtonElement).disabled) return;
  const d = t.dataset;
  switch (d.action) {
    case "custom": {
      const c = s.room.state.custom?.[d.type!];
      if (!c?.key_field) return;
      publishing(s.room.publish({ type: d.type as `custom.${string}`, data: customData(c, d.key!) }));
      return;
    }
    case "react":
      floatEmoji(t, d.emoji!);
      publishing(s.room.publish({ type: "reaction", data: { emoji: d.emoji! } }));
      return;
    case "vote": {
      const option = Number(d.option);
      myVotes.set(d.poll!, option);
      publishing(s.room.publish({ type: "poll.vote", data: { poll_id: d.poll!, option } }));
      render(s.room.state);
      return;
    }
    case "pick": {
      // Multiple choice: toggle, and send the whole pick at once.
      const o = Number(d.option);
      const cur = myPicks.get(d.poll!) ?? [];
      const next = cur.includes(o) ? cur.filter((x) => x !== o) : [...cur, o];
      if (next.length === 0 || next.length > Number(d.max)) return toast(next.length ? `Pick at most ${d.max}.` : "Pick at least one.");
      myPicks.set(d.poll!, next);
      publishing(s.room.publish({ type: "poll.pick", data: { poll_id: d.poll!, options: next } }));
      render(s.room.state);
      return;
    }
    case "rank": {
      // Ranking: click options best first; each click sends the order so far.
      const o = Number(d.option);
      const cur = (myPicks.get(d.poll!) ?? []).filter((x) => x !== o);
      const next = [...cur, o];
      myPicks.set(d.poll!, next);
      publishing(s.room.publish({ type: "poll.rank", data: { poll_id: d.poll!, order: next } }));
      render(s.room.state);
      return;
    }
    case "rank-reset":
      myPicks.delete(d.poll!);
      render(s.room.state);
      return;
    case "rate": {
      const rating = Number(d.rating);
      myPicks.set(d.poll!, [rating]);
      publishing(s.room.publish({ type: "poll.rate", data: { poll_id: d.poll!, rating } }));
      render(s.room.state);
      return;
    }
    case "answer": {
      const option = Number(d.option);
      myAnswers.set(d.quiz!, option);
      publishing(s.room.publish({ type: "quiz.answer", data: { quiz_id: d.quiz!, option } }));
      render(s.room.state);
      return;
    }
    case "upvote":
      myUpvotes.add(d.question!);
      publishing(s.room.publish({ type: "qa.upvote", data: { question_id: d.question! } }));
      render(s.room.state);
      return;
  }
});

$<HTMLFormElement>("#chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>("input", ev.target as HTMLElement);
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  const slow = s.room.state.mod?.controls.slow_mode ?? 0;
  s.room.publish({ type: "chat.message", data: { text, name: s.name } }).then(
    () => { if (slow > 0) countdown(slow); },
    (err: Error) => {
      if (err instanceof PublishError && err.code === "slow_mode" && err.retryAfter) countdown(err.retryAfter);
      if (err instanceof PublishError && err.code === "banned") showBanned(err.until, err.message.includes("everywhere"));
      toast(err.message);
    });
});

// Slow mode: after a line, the composer counts down to the next one.
let slowUntil = 0;
let slowTimer: ReturnType<typeof setInterval> | undefined;
function countdown(seconds: number): void {
  slowUntil = Date.now() + seconds * 1000;
  const el = $("[data-testid=slow-countdown]");
  const send = $<HTMLButtonElement>("[data-testid=chat-send]");
  const tick = () => {
    const left = Math.ceil((slowUntil - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(slowTimer);
      el.hidden = true;
      send.disabled = false;
      return;
    }
    el.hidden = false;
    el.textContent = `Slow mode: you can send again in ${left} s`;
    send.disabled = true;
  };
  clearInterval(slowTimer);
  slowTimer = setInterval(tick, 250);
  tick();
}

function showBanned(until?: number, everywhere = false): void {
  const el = $("[data-testid=banned]");
  el.hidden = false;
  const where = everywhere ? "everywhere" : "in this room";
  el.textContent = until ? `You are timed out ${where} until ${new Date(until).toLocaleTimeString()}.` : everywhere ? "You are banned everywhere." : "You are banned from this room.";
  $<HTMLButtonElement>("[data-testid=chat-send]").disabled = true;
}

// A moderator's ban ends this page's subscription (code banned).
s.room.on("error", (err) => {
  if (err instanceof PublishError && err.code === "banned") showBanned(err.until, err.message.includes("everywhere"));
});

function renderControls(st: RoomState): void {
  const c = st.mod?.controls ?? {};
  const parts = [
    c.slow_mode ? `Slow mode: one message every ${c.slow_mode} s` : "",
    c.chat_off ? "Chat is off" : "",
    c.emote_only ? "Emote-only chat" : "",
    c.reactions_off ? "Reactions are off" : "",
    c.questions_off ? "Questions are closed" : "",
    c.hold_chat ? "Chat is moderated: messages appear once approved" : "",
    c.hold_questions ? "Questions are moderated: they appear once approved" : "",
  ].filter(Boolean);
  const el = $("[data-testid=controls]");
  el.hidden = parts.length === 0;
  el.textContent = parts.join(" · ");
  const pin = $("[data-testid=pinned]");
  pin.hidden = !st.pinned;
  pin.textContent = st.pinned ? `📌 ${st.pinned.name || st.pinned.user}: ${st.pinned.text}` : "";
  const mine = s.room.sanction(s.user);
  if (mine) showBanned(mine.until);
}

$<HTMLFormElement>("#qa-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>("input", ev.target as HTMLElement);
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  publishing(s.room.publish({ type: "qa.ask", data: { text } }));
});

function renderReactions(st: RoomState): void {
  for (const el of main.querySelectorAll<HTMLElement>("[data-testid=reaction-count]")) {
    el.textContent = fmt(st.reactions[el.dataset.emoji!] ?? 0);
  }
  $("[data-testid=reactions-total]").textContent = `${fmt(st.totals.reactions)} total`;
  const extra = Object.entries(st.reactions).filter(([e]) => !EMOJI.includes(e)).sort((a, b) => b[1] - a[1]).slice(0, 8);
  $("#extra-emoji").innerHTML = extra.map(([e, n]) => `<span class="chip">${esc(e)} ${fmt(n)}</span>`).join("");
}

function renderPoll(st: RoomState): void {
  const el = $("#poll");
  const open = Object.entries(st.polls).filter(([, p]) => !p.closed).sort(([a], [b]) => (a < b ? -1 : 1));
  const cur = open.length ? open[open.length - 1] : latest(st.polls);
  if (!cur) {
    el.dataset.sig = "";
    el.innerHTML = `<div class="card-head"><h2>Poll</h2></div><p class="empty">No poll yet. Open the <a href="/host${esc(location.search)}" target="_blank">host console</a> in another tab and start one: it shows up here and the bars move live.</p>`;
    return;
  }
  const [id, p] = cur;
  if (p.kind && p.kind !== "single") return renderKind(el, id, p);
  const total = p.votes.reduce((a, b) => a + b, 0);
  const mine = myVotes.get(id);
  // Rebuild the buttons only when the poll itself changes; otherwise move
  // the bars in place, so a click is never lost to a re-render mid-press.
  const sig = JSON.stringify([id, p.closed, p.options, mine]);
  if (el.dataset.sig === sig) {
    p.options.forEach((_, i) => {
      const n = p.votes[i] ?? 0;
      const pct = total ? Math.round((100 * n) / total) : 0;
      const btn = el.querySelector<HTMLElement>(`.option[data-option="${i}"]`)!;
      btn.querySelector<HTMLElement>(".bar")!.style.width = `${pct}%`;
      btn.querySelector<HTMLElement>(".count")!.innerHTML = `<b data-testid="poll-votes" data-option="${i}">${n}</b> · ${pct}%`;
    });
    $("[data-testid=poll-total]", el).textContent = String(total);
    return;
  }
  el.dataset.sig = sig;
  el.innerHTML = `
    <div class="card-head"><h2>Poll</h2>${p.closed ? `<span class="badge">closed</span>` : `<span class="badge live">live</span>`}</div>
    <p class="question">${esc(p.question)}</p>
    <div class="options">${p.options.map((o, i) => {
      const n = p.votes[i] ?? 0;
      const pct = total ? Math.round((100 * n) / total) : 0;
      return `<button class="option${mine === i ? " mine" : ""}" data-action="vote" data-poll="${esc(id)}" data-option="${i}" ${p.closed ? "disabled" : ""}>
        <span class="bar" style="width:${pct}%"></span>
        <span class="label">${esc(o)}</span>
        <span class="count"><b data-testid="poll-votes" data-option="${i}">${n}</b> · ${pct}%</span>
      </button>`;
    }).join("")}</div>
    <p class="muted small"><span data-testid="poll-total">${total}</span> votes${mine !== undefined ? " · you can change your vote" : ""}</p>`;
}

const KIND_TITLE: Record<string, string> = { multi: "Multiple choice", ranking: "Ranking", rating: "Rating", text: "Open question", cloud: "Word cloud" };

// renderKind draws a poll of the kinds beyond single choice. The controls
// (buttons, the answer box) are rebuilt only when the poll itself
// changes, so typing is never lost; the results redraw on every state.
function renderKind(el: HTMLElement, id: string, p: Poll): void {
  const mine = myPicks.get(id) ?? [];
  const sig = JSON.stringify([id, p.kind, p.closed, p.options, mine]);
  const timer = p.closes_at && !p.closed ? ` <span class="badge" data-testid="poll-timer">until ${esc(new Date(p.closes_at).toLocaleTimeString())}</span>` : "";
  if (el.dataset.sig !== sig) {
    el.dataset.sig = sig;
    const dis = p.closed ? "disabled" : "";
    let controls = "";
    switch (p.kind) {
      case "multi":
        controls = `<div class="options">${p.options.map((o, i) => `<button class="option${mine.includes(i) ? " mine" : ""}" data-action="pick" data-poll="${esc(id)}" data-option="${i}" data-max="${p.max_picks ?? p.options.length}" ${dis}><span class="bar"></span><span class="label">${mine.includes(i) ? "☑" : "☐"} ${esc(o)}</span><span class="count"></span></button>`).join("")}</div>
          <p class="muted small">Pick up to ${p.max_picks ?? p.options.length}; you can change your picks until the poll closes.</p>`;
        break;
      case "ranking":
        controls = `<div class="options">${p.options.map((o, i) => {
          const pos = mine.indexOf(i);
          return `<button class="option${pos >= 0 ? " mine" : ""}" data-action="rank" data-poll="${esc(id)}" data-option="${i}" ${dis}><span class="bar"></span><span class="label">${pos >= 0 ? `#${pos + 1}` : "·"} ${esc(o)}</span><span class="count"></span></button>`;
        }).join("")}</div>
          <p class="muted small">Click the options best first. <button class="small" data-action="rank-reset" data-poll="${esc(id)}" ${dis}>Start over</button></p>`;
        break;
      case "rating": {
        const [lo, hi] = p.scale === "nps" ? [0, 10] : p.scale === "1-10" ? [1, 10] : [1, 5];
        controls = `<div class="scale">${Array.from({ length: hi - lo + 1 }, (_, j) => lo + j).map((v) => `<button class="${mine[0] === v ? "mine" : ""}" data-action="rate" data-poll="${esc(id)}" data-rating="${v}" data-testid="rate" ${dis}>${v}</button>`).join("")}</div>`;
        break;
      }
      default:
        controls = `<form class="composer" data-poll-form="${esc(id)}" autocomplete="off"><input name="answer" maxlength="140" placeholder="${p.kind === "cloud" ? "A few words…" : "Your answer…"}" aria-label="poll answer" data-testid="poll-answer" ${dis} /><button type="submit" class="primary" data-testid="poll-answer-send" ${dis}>Send</button></form>`;
    }
    el.innerHTML = `<div class="card-head"><h2>${KIND_TITLE[p.kind!] ?? "Poll"}</h2>${p.closed ? `<span class="badge">closed</span>` : `<span class="badge live">live</span>`}${timer}</div>
      <p class="question">${esc(p.question)}</p>${controls}<div class="results" data-testid="poll-results"></div>`;
    el.querySelector<HTMLFormElement>("form[data-poll-form]")?.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const f = ev.target as HTMLFormElement;
      const input = f.elements.namedItem("answer") as HTMLInputElement;
      const answer = input.value.trim();
      if (!answer) return;
      publishing(s.room.publish({ type: "poll.text", data: { poll_id: id, answer } }).then(() => { input.value = ""; }));
    });
  }
  const res = $(".results", el);
  const voters = p.voters ?? 0;
  switch (p.kind) {
    case "multi":
    case "ranking": {
      const max = Math.max(1, ...p.votes);
      p.options.forEach((_, i) => {
        const btn = el.querySelector<HTMLElement>(`.option[data-option="${i}"]`);
        if (!btn) return;
        btn.querySelector<HTMLElement>(".bar")!.style.width = `${(100 * (p.votes[i] ?? 0)) / max}%`;
        btn.querySelector<HTMLElement>(".count")!.innerHTML = `<b data-testid="poll-votes" data-option="${i}">${p.votes[i] ?? 0}</b>${p.kind === "ranking" ? " pts" : ""}`;
      });
      res.innerHTML = `<p class="muted small"><span data-testid="poll-voters">${voters}</span> ${p.kind === "ranking" ? "ballots (Borda points)" : "voters"}</p>`;
      break;
    }
    case "rating": {
      const m = pollMean(p);
      const lo = p.scale === "nps" ? 0 : 1;
      const max = Math.max(1, ...p.votes);
      res.innerHTML = `<div class="dist">${p.votes.map((n, j) => `<span title="${lo + j}: ${n}" style="height:${4 + (40 * n) / max}px"></span>`).join("")}</div>
        <p class="muted small">mean <b data-testid="poll-mean">${m === undefined ? "–" : m.toFixed(2)}</b> · <span data-testid="poll-voters">${voters}</span> ratings</p>`;
      break;
    }
    case "cloud": {
      const words = p.words ?? [];
      const max = Math.max(1, ...words.map((w) => w.count));
      res.innerHTML = `<div class="cloud">${words.map((w) => `<span data-testid="cloud-word" data-word="${esc(w.word)}" data-count="${w.count}" style="font-size:${12 + (24 * w.count) / max}px;--h:${hue(w.word)}">${esc(w.word)}</span>`).join(" ") || `<span class="muted">No words yet.</span>`}</div>
        <p class="muted small"><span data-testid="poll-voters">${voters}</span> people answered</p>`;
      break;
    }
    default:
      res.innerHTML = `<ol class="texts">${(p.texts ?? []).slice().reverse().map((t) => `<li data-testid="poll-text"><b>${esc(t.user)}</b> ${esc(t.text)}</li>`).join("")}</ol>
        <p class="muted small"><span data-testid="poll-voters">${voters}</span> answers</p>`;
  }
}

function renderQuiz(st: RoomState): void {
  const el = $("#quiz");
  const cur = latest(st.quizzes);
  const board = st.leaderboard.length
    ? `<ol class="leaderboard">${st.leaderboard.map((e, i) => `
        <li class="${e.user === s.user ? "me" : ""}"><span class="rank">${i + 1}</span><span class="avatar" style="--h:${hue(e.user)}">${esc(initials(e.user))}</span><span class="who">${esc(e.user)}</span><b>${e.score}</b></li>`).join("")}</ol>`
    : `<p class="empty small">The leaderboard fills up when the host reveals an answer.</p>`;
  if (!cur) {
    el.dataset.sig = "";
    el.innerHTML = `<div class="card-head"><h2>Quiz</h2></div><p class="empty">No quiz question yet. The host asks one from the <a href="/host${esc(location.search)}" target="_blank">host console</a>.</p><h3>Leaderboard</h3>${board}`;
    return;
  }
  const [id, z] = cur;
  const mine = myAnswers.get(id);
  const sig = JSON.stringify([id, z.revealed, z.options, mine, st.leaderboard]);
  if (el.dataset.sig === sig) {
    $("[data-testid=quiz-answers]", el).textContent = String(z.answers);
    return;
  }
  el.dataset.sig = sig;
  el.innerHTML = `
    <div class="card-head"><h2>Quiz</h2>${z.revealed ? `<span class="badge">revealed</span>` : `<span class="badge live">${z.points} pt${z.points === 1 ? "" : "s"}</span>`}</div>
    <p class="question">${esc(z.question)}</p>
    <div class="options quiz-options">${z.options.map((o, i) => {
      const cls = [mine === i ? "mine" : "", z.revealed && z.correct === i ? "correct" : "", z.revealed && mine === i && z.correct !== i ? "wrong" : ""].join(" ");
      return `<button class="option ${cls}" data-action="answer" data-quiz="${esc(id)}" data-option="${i}" ${z.revealed || mine !== undefined ? "disabled" : ""}><span class="label">${esc(o)}</span></button>`;
    }).join("")}</div>
    <p class="muted small"><span data-testid="quiz-answers">${z.answers}</span> answers${mine !== undefined && !z.revealed ? " · locked in, wait for the reveal" : ""}</p>
    <h3>Leaderboard</h3>${board}`;
}

function renderChat(st: RoomState): void {
  const list = $("#chat");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.innerHTML = st.chat.length
    ? st.chat.map((l) => `
      <li class="chat-line" data-id="${esc(l.id)}">
        <span class="avatar" style="--h:${hue(l.user)}">${esc(initials(l.name || l.user))}</span>
        <div><span class="who">${esc(l.name || l.user)}</span><span class="when">${timeAgo(l.ts)}</span><p class="text">${esc(l.text)}</p></div>
      </li>`).join("")
    : `<li class="empty">No messages yet. Say hi!</li>`;
  if (atBottom) list.scrollTop = list.scrollHeight;
  $("[data-testid=chat-total]").textContent = `${fmt(st.totals.chat)} messages`;
}

function renderQA(st: RoomState): void {
  const qs = Object.entries(st.questions).sort(([ia, a], [ib, b]) =>
    Number(a.answered) - Number(b.answered) || b.upvotes - a.upvotes || a.ts - b.ts || (ia < ib ? -1 : 1));
  $("#qa-count").textContent = `${qs.length} question${qs.length === 1 ? "" : "s"}`;
  const list = $("#qa");
  const sig = JSON.stringify(qs.map(([id, q]) => [id, q.answered, myUpvotes.has(id)]));
  if (list.dataset.sig === sig) {
    for (const [id, q] of qs) {
      const b = list.querySelector<HTMLElement>(`.qa-item[data-id="${CSS.escape(id)}"] .upvote b`);
      if (b) b.textContent = String(q.upvotes);
    }
    return;
  }
  list.dataset.sig = sig;
  list.innerHTML = qs.length
    ? qs.map(([id, q]) => `
      <li class="qa-item${q.answered ? " answered" : ""}" data-id="${esc(id)}">
        <button class="upvote${myUpvotes.has(id) ? " mine" : ""}" data-action="upvote" data-question="${esc(id)}" ${myUpvotes.has(id) || q.answered ? "disabled" : ""} aria-label="upvote">▲<b>${q.upvotes}</b></button>
        <div><p class="text">${esc(q.text)}</p><span class="muted small">${esc(q.user)}${q.answered ? ` · <span class="badge ok">answered</span>` : ""}</span></div>
      </li>`).join("")
    : `<li class="empty">No questions yet. Ask one — the most upvoted rise to the top.</li>`;
}

function render(st: RoomState): void {
  renderControls(st);
  renderReactions(st);
  renderPoll(st);
  renderQuiz(st);
  renderChat(st);
  renderQA(st);
  renderCustom($("#custom"), st, true);
}

onState(s, render);
