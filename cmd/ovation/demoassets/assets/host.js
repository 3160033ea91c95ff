import{s as P,$ as d,h as B,D as F,n as D,t as k,p as y,o as R,m as Q,e as o,a as O,f as z,r as U,b as N,i as C,c as H}from"./common.js";const r=P("host"),E=d("#app");E.append(B(r,"host console",{href:`/${location.search}`,text:"← Audience view"}));const x=document.createElement("main");x.className="grid host";x.innerHTML=`
  <section class="col">
    <div class="card stats" id="stats"></div>
    <div class="card" id="custom" data-testid="custom-card" hidden></div>
    <div class="card">
      <div class="card-head"><h2>Polls</h2></div>
      <form id="poll-form" class="stack" autocomplete="off">
        <input name="question" maxlength="300" placeholder="Question, e.g. Which talk did you like most?" aria-label="poll question" data-testid="poll-question" required />
        <textarea name="options" rows="3" placeholder="One option per line (2 to 10; none for rating, text and cloud)" aria-label="poll options" data-testid="poll-options"></textarea>
        <div class="row">
          <label>Kind <select name="kind" data-testid="poll-kind">
            <option value="single">single choice</option><option value="multi">multiple choice</option><option value="ranking">ranking</option>
            <option value="rating">rating</option><option value="text">open text</option><option value="cloud">word cloud</option>
          </select></label>
          <label>Scale <select name="scale" data-testid="poll-scale"><option value="1-5">1–5</option><option value="1-10">1–10</option><option value="nps">NPS 0–10</option></select></label>
          <label>Timer <input name="seconds" type="number" min="0" max="86400" value="0" data-testid="poll-seconds" aria-label="poll timer in seconds" /> s</label>
        </div>
        <button type="submit" class="primary" data-testid="open-poll">Open poll</button>
      </form>
      <ol class="host-list" id="polls"></ol>
    </div>
    <div class="card">
      <div class="card-head"><h2>Quiz</h2></div>
      <form id="quiz-form" class="stack" autocomplete="off">
        <input name="question" maxlength="300" placeholder="Question, e.g. What year was Kafka open-sourced?" aria-label="quiz question" required />
        <textarea name="options" rows="3" placeholder="One option per line; mark the right one with a leading *" aria-label="quiz options" required></textarea>
        <div class="row"><label>Points <input name="points" type="number" min="1" max="1000" value="10" /></label>
        <label>Timer <input name="seconds" type="number" min="0" max="86400" value="0" data-testid="quiz-seconds" aria-label="quiz timer in seconds" /> s</label>
        <button type="submit" class="primary">Ask question</button></div>
      </form>
      <ol class="host-list" id="quizzes"></ol>
      <h3>Leaderboard</h3>
      <ol class="leaderboard" id="leaderboard"></ol>
    </div>
  </section>
  <section class="col">
    <div class="card">
      <div class="card-head"><h2>Q&amp;A</h2><span class="muted" id="qa-count"></span></div>
      <ol class="qa-list" id="qa"></ol>
    </div>
    <div class="card" data-testid="pending-card">
      <div class="card-head"><h2>Pending review</h2><span class="muted" id="pending-count" data-testid="pending-count"></span></div>
      <ol class="host-list" id="pending" data-testid="pending"></ol>
    </div>
    <div class="card">
      <div class="card-head"><h2>Room controls</h2></div>
      <form id="controls-form" class="stack" autocomplete="off">
        <div class="row"><label>Slow mode (s) <input name="slow_mode" type="number" min="0" max="3600" value="0" data-testid="slow-mode" /></label></div>
        <div class="checks">
          <label><input type="checkbox" name="chat_off" data-testid="chat-off" /> chat off</label>
          <label><input type="checkbox" name="emote_only" data-testid="emote-only" /> emote-only</label>
          <label><input type="checkbox" name="reactions_off" data-testid="reactions-off" /> reactions off</label>
          <label><input type="checkbox" name="questions_off" data-testid="questions-off" /> questions off</label>
          <label><input type="checkbox" name="hold_chat" data-testid="hold-chat" /> hold chat for review</label>
          <label><input type="checkbox" name="hold_questions" data-testid="hold-questions" /> hold questions for review</label>
        </div>
        <button type="submit" class="primary" data-testid="apply-controls">Apply</button>
      </form>
      <p class="muted small" data-testid="controls-now"></p>
      <div class="row" id="pinned-now"></div>
      <form id="filter-form" class="stack" autocomplete="off">
        <input name="words" maxlength="2000" placeholder="Word filter: words separated by spaces or commas (private)" aria-label="filter words" data-testid="filter-words" />
        <div class="row"><select name="action" aria-label="filter action" data-testid="filter-action"><option value="mask">mask with *</option><option value="refuse">refuse the line</option><option value="hold">hold for review</option></select>
        <button type="submit" data-testid="apply-filter">Set filter</button></div>
      </form>
      <label class="small"><input type="checkbox" id="everywhere" data-testid="everywhere" /> Ban and 10 min apply everywhere (every room of the deployment)</label>
      <h3>Sanctions</h3>
      <ol class="host-list" id="sanctions" data-testid="sanctions"></ol>
      <h3>Banned everywhere</h3>
      <ol class="host-list" id="dep-sanctions" data-testid="dep-sanctions"></ol>
    </div>
    <div class="card chat">
      <div class="card-head"><h2>Chat moderation</h2><span class="muted" id="chat-count"></span></div>
      <ol class="chat-list" id="chat"></ol>
    </div>
  </section>`;E.append(x);const q=r.client.deployment(new URLSearchParams(location.search).get("deployment_room")??F),I=()=>d("#everywhere").checked,T=new Map;function M(a){return a.split(`
`).map(s=>s.trim()).filter(Boolean)}d("#poll-form").addEventListener("submit",a=>{a.preventDefault();const s=a.target,e=s.elements.namedItem("question").value.trim(),l=M(s.elements.namedItem("options").value),i=s.elements.namedItem("kind").value,h=Number(s.elements.namedItem("seconds").value)||void 0,c={poll_id:D("poll"),question:e,seconds:h};if(i==="rating")c.kind=i,c.scale=s.elements.namedItem("scale").value;else if(i==="text"||i==="cloud")c.kind=i;else{if(l.length<2||l.length>10)return k("A poll needs 2 to 10 options, one per line.");c.options=l,i!=="single"&&(c.kind=i)}y(r.room.publish({type:"poll.open",data:c}).then(()=>s.reset()))});d("#quiz-form").addEventListener("submit",a=>{a.preventDefault();const s=a.target,e=s.elements.namedItem("question").value.trim(),l=M(s.elements.namedItem("options").value),i=l.findIndex(m=>m.startsWith("*")),h=l.map(m=>m.replace(/^\*\s*/,""));if(h.length<2||h.length>10)return k("A quiz question needs 2 to 10 options, one per line.");if(i<0)return k("Mark the right option with a leading *.");const c=Number(s.elements.namedItem("points").value)||1,g=Number(s.elements.namedItem("seconds").value)||void 0,v=D("quiz");T.set(v,i),y(r.room.publish({type:"quiz.ask",data:{quiz_id:v,question:e,options:h,correct:i,points:c,seconds:g}}).then(()=>s.reset()))});d("#controls-form").addEventListener("submit",a=>{a.preventDefault();const s=a.target,e=i=>s.elements.namedItem(i).checked||void 0,l=Number(s.elements.namedItem("slow_mode").value)||void 0;y(r.room.setControls({slow_mode:l,chat_off:e("chat_off"),emote_only:e("emote_only"),reactions_off:e("reactions_off"),questions_off:e("questions_off"),hold_chat:e("hold_chat"),hold_questions:e("hold_questions")}))});d("#filter-form").addEventListener("submit",a=>{a.preventDefault();const s=a.target,e=s.elements.namedItem("words").value.split(/[\s,]+/).filter(Boolean),l=s.elements.namedItem("action").value;y(r.room.setFilter(e,l).then(()=>k(e.length?`Filter set: ${e.length} word(s), ${l}`:"Filter off","info")))});x.addEventListener("click",a=>{const s=a.target.closest("[data-action]");if(!s||s.disabled)return;const e=s.dataset,l=s;l.disabled=!0;const i=h=>y(h.catch(c=>{throw l.disabled=!1,c}));switch(e.action){case"close-poll":return i(r.room.publish({type:"poll.close",data:{poll_id:e.id}}));case"reveal":return i(r.room.publish({type:"quiz.reveal",data:{quiz_id:e.id}}));case"answered":return i(r.room.publish({type:"qa.answered",data:{question_id:e.id}}));case"delete":return i(r.room.publish({type:"chat.delete",data:{message_id:e.id}}));case"ban":return I()?i(q.ban(e.user,{reason:"banned everywhere from the host console"})):i(r.room.ban(e.user,{hide:!0,reason:"banned from the host console"}));case"timeout":return I()?i(q.timeout(e.user,600)):i(r.room.timeout(e.user,600,{hide:!0}));case"unban":return i(r.room.unban(e.user));case"unban-everywhere":return i(q.unban(e.user));case"pin":return i(r.room.pin(e.id));case"unpin":return i(r.room.unpin());case"approve":return i(r.room.approve(e.id));case"reject":return i(r.room.reject(e.id))}});function b(a,s,e,l){const i=JSON.stringify(s);a.dataset.sig!==i&&(a.dataset.sig=i,a.innerHTML=e()),l()}const L=a=>Object.entries(a).sort(([s],[e])=>s<e?1:-1);function W(a){const s=a.totals;d("#stats").innerHTML=[["viewers",a.viewers],["reactions",s.reactions],["chat",s.chat],["votes",s.votes],["questions",s.questions],["answers",s.answers]].map(([t,n])=>`<div class="stat"><b data-testid="total-${t}">${z(n)}</b><span>${t}</span></div>`).join(""),U(d("#custom"),a);const e=L(a.polls),l=d("#polls");b(l,e.map(([t,n])=>[t,n.closed,n.options,n.kind]),()=>e.length?e.map(([t,n])=>`
    <li data-id="${o(t)}" data-kind="${o(n.kind??"single")}">
      <div class="row"><p class="question">${o(n.question)}</p><span class="badge">${o(n.kind??"single")}</span>${n.closed?'<span class="badge">closed</span>':`<button class="danger small" data-action="close-poll" data-id="${o(t)}">Close</button>`}</div>
      ${n.options.map((u,p)=>`<div class="mini-bar"><span class="fill" data-i="${p}"></span><span class="label">${o(u)}</span><b data-i="${p}"></b></div>`).join("")}
      <p class="muted small"><span class="total"></span> <span class="summary" data-testid="host-poll-summary"></span></p>
    </li>`).join(""):'<li class="empty">No polls yet. Open one above; the audience sees it at once.</li>',()=>{for(const[t,n]of e){const u=l.querySelector(`li[data-id="${CSS.escape(t)}"]`);if(!u)continue;u.querySelector(".summary").textContent=J(n);const p=n.votes.reduce(($,w)=>$+w,0);n.options.forEach(($,w)=>{u.querySelector(`.fill[data-i="${w}"]`).style.width=`${p?100*(n.votes[w]??0)/p:0}%`,u.querySelector(`b[data-i="${w}"]`).textContent=String(n.votes[w]??0)}),u.querySelector(".total").textContent=n.kind&&n.kind!=="single"?`${n.voters??0} voters`:`${p} votes`}});const i=L(a.quizzes),h=d("#quizzes");b(h,i.map(([t,n])=>[t,n.revealed]),()=>i.length?i.map(([t,n])=>{const u=n.revealed?n.correct:T.get(t);return`<li data-id="${o(t)}">
      <div class="row"><p class="question">${o(n.question)}</p>${n.revealed?'<span class="badge">revealed</span>':`<button class="primary small" data-action="reveal" data-id="${o(t)}">Reveal</button>`}</div>
      <p class="muted small">${n.options.map((p,$)=>$===u?`<b class="ok">✓ ${o(p)}</b>`:o(p)).join(" · ")} — ${n.points} pts · <span class="answers"></span> answers</p>
    </li>`}).join(""):'<li class="empty">No quiz questions yet.</li>',()=>{for(const[t,n]of i){const u=h.querySelector(`li[data-id="${CSS.escape(t)}"] .answers`);u&&(u.textContent=String(n.answers))}}),d("#leaderboard").innerHTML=a.leaderboard.length?a.leaderboard.map((t,n)=>`<li><span class="rank">${n+1}</span><span class="avatar" style="--h:${N(t.user)}">${o(C(t.user))}</span><span class="who">${o(t.user)}</span><b>${t.score}</b></li>`).join(""):'<li class="empty small">Reveal an answer to score the room.</li>';const c=Object.entries(a.questions).sort(([t,n],[u,p])=>Number(n.answered)-Number(p.answered)||p.upvotes-n.upvotes||n.ts-p.ts||(t<u?-1:1));d("#qa-count").textContent=`${c.length} question${c.length===1?"":"s"}`;const g=d("#qa");b(g,c.map(([t,n])=>[t,n.answered]),()=>c.length?c.map(([t,n])=>`
    <li class="qa-item${n.answered?" answered":""}" data-id="${o(t)}">
      <span class="upvote static">▲<b></b></span>
      <div><p class="text">${o(n.text)}</p><span class="muted small">${o(n.user)}</span></div>
      ${n.answered?'<span class="badge ok">answered</span>':`<button class="small" data-action="answered" data-id="${o(t)}">Mark answered</button>`}
    </li>`).join(""):'<li class="empty">No questions yet.</li>',()=>{for(const[t,n]of c){const u=g.querySelector(`li[data-id="${CSS.escape(t)}"] .upvote b`);u&&(u.textContent=String(n.upvotes))}});const v=[...a.chat].reverse();d("#chat-count").textContent=`${z(s.chat)} messages`,b(d("#chat"),v.map(t=>t.id),()=>v.length?v.map(t=>`
    <li class="chat-line" data-id="${o(t.id)}">
      <span class="avatar" style="--h:${N(t.user)}">${o(C(t.name||t.user))}</span>
      <div><span class="who">${o(t.name||t.user)}</span><span class="when">${O(t.ts)}</span><p class="text">${o(t.text)}</p></div>
      <button class="danger small" data-action="delete" data-id="${o(t.id)}" aria-label="delete message">Delete</button>
      <button class="small" data-action="pin" data-id="${o(t.id)}" data-testid="pin" aria-label="pin message">Pin</button>
      <button class="small" data-action="timeout" data-user="${o(t.user)}" data-testid="timeout" aria-label="time out ${o(t.user)} for 10 minutes">10 min</button>
      <button class="danger small" data-action="ban" data-user="${o(t.user)}" data-testid="ban" aria-label="ban ${o(t.user)}">Ban</button>
    </li>`).join(""):'<li class="empty">No messages yet.</li>',()=>{});const m=a.mod?.controls??{};d("[data-testid=controls-now]").textContent=[m.slow_mode?`slow mode ${m.slow_mode} s`:"",m.chat_off?"chat off":"",m.emote_only?"emote-only":"",m.reactions_off?"reactions off":"",m.questions_off?"questions off":"",m.hold_chat?"chat held for review":"",m.hold_questions?"questions held for review":""].filter(Boolean).join(" · ")||"no controls on";const f=a.pinned;b(d("#pinned-now"),f?[f.id]:[],()=>f?`<span class="small">📌 ${o(f.name||f.user)}: ${o(f.text)}</span><button class="small" data-action="unpin" data-testid="unpin">Unpin</button>`:"",()=>{});const _=Object.entries(a.mod?.sanctions??{}).filter(([,t])=>t.until===void 0||t.until>Date.now()).sort(([t],[n])=>t<n?-1:1);b(d("#sanctions"),_,()=>_.length?_.map(([t,n])=>`
    <li class="row" data-user="${o(t)}"><span class="who">${o(t)}</span>
      <span class="muted small">${n.kind==="ban"?"banned":`timed out until ${new Date(n.until).toLocaleTimeString()}`} by ${o(n.by)}</span>
      <button class="small" data-action="unban" data-user="${o(t)}" data-testid="unban">Unban</button></li>`).join(""):'<li class="empty small">Nobody is banned or timed out.</li>',()=>{})}R(r,W);function K(a){const s=Object.entries(a.mod?.sanctions??{}).filter(([,e])=>e.until===void 0||e.until>Date.now()).sort(([e],[l])=>e<l?-1:1);b(d("#dep-sanctions"),s,()=>s.length?s.map(([e,l])=>`
    <li class="row" data-user="${o(e)}"><span class="who">${o(e)}</span>
      <span class="muted small">${l.kind==="ban"?"banned everywhere":`timed out everywhere until ${new Date(l.until).toLocaleTimeString()}`} by ${o(l.by)}</span>
      <button class="small" data-action="unban-everywhere" data-user="${o(e)}" data-testid="unban-everywhere">Unban everywhere</button></li>`).join(""):'<li class="empty small">Nobody is banned everywhere.</li>',()=>{})}q.on("state",K);const j=r.client.room(Q(r.room.name));let S=!1;j.on("state",()=>{S||(S=!0,requestAnimationFrame(()=>{S=!1,A(j)}))});A(j);function A(a){const s=a.held();d("#pending-count").textContent=`${s.length} waiting`,b(d("#pending"),s.map(([e])=>e),()=>s.length?s.map(([e,l])=>`
    <li class="row" data-key="${o(e)}" data-testid="pending-item">
      <span class="badge">${l.kind==="question"?"question":"chat"}${l.filtered?" · filter":""}</span>
      <div><span class="who">${o(l.name||l.user)}</span><span class="when">${O(l.ts)}</span><p class="text">${o(l.text)}</p></div>
      <button class="primary small" data-action="approve" data-id="${o(e)}" data-testid="approve">Approve</button>
      <button class="danger small" data-action="reject" data-id="${o(e)}" data-testid="reject">Reject</button>
    </li>`).join(""):'<li class="empty small">Nothing waiting. Turn on "hold … for review" above, or a filter that holds.</li>',()=>{})}function J(a){const s=[];if(a.kind==="rating"){const e=H(a);s.push(e===void 0?"no ratings yet":`mean ${e.toFixed(2)}`)}else if(a.kind==="cloud")s.push((a.words??[]).slice(0,5).map(e=>`${e.word} ×${e.count}`).join(", ")||"no words yet");else if(a.kind==="text"){const e=(a.texts??[]).at(-1);s.push(e?`latest: “${e.text}”`:"no answers yet")}else if(a.kind==="ranking"){const e=a.votes.indexOf(Math.max(...a.votes));s.push(a.voters?`leading: ${a.options[e]} (Borda ${a.votes[e]})`:"no ballots yet")}return a.closes_at&&!a.closed&&s.push(`closes ${new Date(a.closes_at).toLocaleTimeString()}`),s.join(" · ")}
