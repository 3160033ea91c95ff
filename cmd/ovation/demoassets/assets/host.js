import{s as E,$ as r,h as O,t as x,p as y,n as C,o as A,f as k,a as S,e as a,i as z,b as M}from"./common.js";const c=E("host"),N=r("#app");N.append(O(c,"host console",{href:`/${location.search}`,text:"← Audience view"}));const g=document.createElement("main");g.className="grid host";g.innerHTML=`
  <section class="col">
    <div class="card stats" id="stats"></div>
    <div class="card">
      <div class="card-head"><h2>Polls</h2></div>
      <form id="poll-form" class="stack" autocomplete="off">
        <input name="question" maxlength="300" placeholder="Question, e.g. Which talk did you like most?" aria-label="poll question" data-testid="poll-question" required />
        <textarea name="options" rows="3" placeholder="One option per line (2 to 10)" aria-label="poll options" data-testid="poll-options" required></textarea>
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
    <div class="card">
      <div class="card-head"><h2>Room controls</h2></div>
      <form id="controls-form" class="stack" autocomplete="off">
        <div class="row"><label>Slow mode (s) <input name="slow_mode" type="number" min="0" max="3600" value="0" data-testid="slow-mode" /></label></div>
        <div class="checks">
          <label><input type="checkbox" name="chat_off" data-testid="chat-off" /> chat off</label>
          <label><input type="checkbox" name="emote_only" data-testid="emote-only" /> emote-only</label>
          <label><input type="checkbox" name="reactions_off" data-testid="reactions-off" /> reactions off</label>
          <label><input type="checkbox" name="questions_off" data-testid="questions-off" /> questions off</label>
        </div>
        <button type="submit" class="primary" data-testid="apply-controls">Apply</button>
      </form>
      <p class="muted small" data-testid="controls-now"></p>
      <div class="row" id="pinned-now"></div>
      <h3>Sanctions</h3>
      <ol class="host-list" id="sanctions" data-testid="sanctions"></ol>
    </div>
    <div class="card chat">
      <div class="card-head"><h2>Chat moderation</h2><span class="muted" id="chat-count"></span></div>
      <ol class="chat-list" id="chat"></ol>
    </div>
  </section>`;N.append(g);const I=new Map;function L(s){return s.split(`
`).map(o=>o.trim()).filter(Boolean)}r("#poll-form").addEventListener("submit",s=>{s.preventDefault();const o=s.target,n=o.elements.namedItem("question").value.trim(),l=L(o.elements.namedItem("options").value);if(l.length<2||l.length>10)return x("A poll needs 2 to 10 options, one per line.");y(c.room.publish({type:"poll.open",data:{poll_id:C("poll"),question:n,options:l}}).then(()=>o.reset()))});r("#quiz-form").addEventListener("submit",s=>{s.preventDefault();const o=s.target,n=o.elements.namedItem("question").value.trim(),l=L(o.elements.namedItem("options").value),i=l.findIndex(b=>b.startsWith("*")),m=l.map(b=>b.replace(/^\*\s*/,""));if(m.length<2||m.length>10)return x("A quiz question needs 2 to 10 options, one per line.");if(i<0)return x("Mark the right option with a leading *.");const u=Number(o.elements.namedItem("points").value)||1,$=C("quiz");I.set($,i),y(c.room.publish({type:"quiz.ask",data:{quiz_id:$,question:n,options:m,correct:i,points:u}}).then(()=>o.reset()))});r("#controls-form").addEventListener("submit",s=>{s.preventDefault();const o=s.target,n=i=>o.elements.namedItem(i).checked||void 0,l=Number(o.elements.namedItem("slow_mode").value)||void 0;y(c.room.setControls({slow_mode:l,chat_off:n("chat_off"),emote_only:n("emote_only"),reactions_off:n("reactions_off"),questions_off:n("questions_off")}))});g.addEventListener("click",s=>{const o=s.target.closest("[data-action]");if(!o||o.disabled)return;const n=o.dataset,l=o;l.disabled=!0;const i=m=>y(m.catch(u=>{throw l.disabled=!1,u}));switch(n.action){case"close-poll":return i(c.room.publish({type:"poll.close",data:{poll_id:n.id}}));case"reveal":return i(c.room.publish({type:"quiz.reveal",data:{quiz_id:n.id}}));case"answered":return i(c.room.publish({type:"qa.answered",data:{question_id:n.id}}));case"delete":return i(c.room.publish({type:"chat.delete",data:{message_id:n.id}}));case"ban":return i(c.room.ban(n.user,{hide:!0,reason:"banned from the host console"}));case"timeout":return i(c.room.timeout(n.user,600,{hide:!0}));case"unban":return i(c.room.unban(n.user));case"pin":return i(c.room.pin(n.id));case"unpin":return i(c.room.unpin())}});function q(s,o,n,l){const i=JSON.stringify(o);s.dataset.sig!==i&&(s.dataset.sig=i,s.innerHTML=n()),l()}const j=s=>Object.entries(s).sort(([o],[n])=>o<n?1:-1);function D(s){const o=s.totals;r("#stats").innerHTML=[["viewers",s.viewers],["reactions",o.reactions],["chat",o.chat],["votes",o.votes],["questions",o.questions],["answers",o.answers]].map(([t,e])=>`<div class="stat"><b data-testid="total-${t}">${k(e)}</b><span>${t}</span></div>`).join("");const n=j(s.polls),l=r("#polls");q(l,n.map(([t,e])=>[t,e.closed,e.options]),()=>n.length?n.map(([t,e])=>`
    <li data-id="${a(t)}">
      <div class="row"><p class="question">${a(e.question)}</p>${e.closed?'<span class="badge">closed</span>':`<button class="danger small" data-action="close-poll" data-id="${a(t)}">Close</button>`}</div>
      ${e.options.map((d,p)=>`<div class="mini-bar"><span class="fill" data-i="${p}"></span><span class="label">${a(d)}</span><b data-i="${p}"></b></div>`).join("")}
      <p class="muted small"><span class="total"></span> votes</p>
    </li>`).join(""):'<li class="empty">No polls yet. Open one above; the audience sees it at once.</li>',()=>{for(const[t,e]of n){const d=l.querySelector(`li[data-id="${CSS.escape(t)}"]`);if(!d)continue;const p=e.votes.reduce((w,v)=>w+v,0);e.options.forEach((w,v)=>{d.querySelector(`.fill[data-i="${v}"]`).style.width=`${p?100*(e.votes[v]??0)/p:0}%`,d.querySelector(`b[data-i="${v}"]`).textContent=String(e.votes[v]??0)}),d.querySelector(".total").textContent=String(p)}});const i=j(s.quizzes),m=r("#quizzes");q(m,i.map(([t,e])=>[t,e.revealed]),()=>i.length?i.map(([t,e])=>{const d=e.revealed?e.correct:I.get(t);return`<li data-id="${a(t)}">
      <div class="row"><p class="question">${a(e.question)}</p>${e.revealed?'<span class="badge">revealed</span>':`<button class="primary small" data-action="reveal" data-id="${a(t)}">Reveal</button>`}</div>
      <p class="muted small">${e.options.map((p,w)=>w===d?`<b class="ok">✓ ${a(p)}</b>`:a(p)).join(" · ")} — ${e.points} pts · <span class="answers"></span> answers</p>
    </li>`}).join(""):'<li class="empty">No quiz questions yet.</li>',()=>{for(const[t,e]of i){const d=m.querySelector(`li[data-id="${CSS.escape(t)}"] .answers`);d&&(d.textContent=String(e.answers))}}),r("#leaderboard").innerHTML=s.leaderboard.length?s.leaderboard.map((t,e)=>`<li><span class="rank">${e+1}</span><span class="avatar" style="--h:${S(t.user)}">${a(z(t.user))}</span><span class="who">${a(t.user)}</span><b>${t.score}</b></li>`).join(""):'<li class="empty small">Reveal an answer to score the room.</li>';const u=Object.entries(s.questions).sort(([t,e],[d,p])=>Number(e.answered)-Number(p.answered)||p.upvotes-e.upvotes||e.ts-p.ts||(t<d?-1:1));r("#qa-count").textContent=`${u.length} question${u.length===1?"":"s"}`;const $=r("#qa");q($,u.map(([t,e])=>[t,e.answered]),()=>u.length?u.map(([t,e])=>`
    <li class="qa-item${e.answered?" answered":""}" data-id="${a(t)}">
      <span class="upvote static">▲<b></b></span>
      <div><p class="text">${a(e.text)}</p><span class="muted small">${a(e.user)}</span></div>
      ${e.answered?'<span class="badge ok">answered</span>':`<button class="small" data-action="answered" data-id="${a(t)}">Mark answered</button>`}
    </li>`).join(""):'<li class="empty">No questions yet.</li>',()=>{for(const[t,e]of u){const d=$.querySelector(`li[data-id="${CSS.escape(t)}"] .upvote b`);d&&(d.textContent=String(e.upvotes))}});const b=[...s.chat].reverse();r("#chat-count").textContent=`${k(o.chat)} messages`,q(r("#chat"),b.map(t=>t.id),()=>b.length?b.map(t=>`
    <li class="chat-line" data-id="${a(t.id)}">
      <span class="avatar" style="--h:${S(t.user)}">${a(z(t.name||t.user))}</span>
      <div><span class="who">${a(t.name||t.user)}</span><span class="when">${M(t.ts)}</span><p class="text">${a(t.text)}</p></div>
      <button class="danger small" data-action="delete" data-id="${a(t.id)}" aria-label="delete message">Delete</button>
      <button class="small" data-action="pin" data-id="${a(t.id)}" data-testid="pin" aria-label="pin message">Pin</button>
      <button class="small" data-action="timeout" data-user="${a(t.user)}" data-testid="timeout" aria-label="time out ${a(t.user)} for 10 minutes">10 min</button>
      <button class="danger small" data-action="ban" data-user="${a(t.user)}" data-testid="ban" aria-label="ban ${a(t.user)}">Ban</button>
    </li>`).join(""):'<li class="empty">No messages yet.</li>',()=>{});const h=s.mod?.controls??{};r("[data-testid=controls-now]").textContent=[h.slow_mode?`slow mode ${h.slow_mode} s`:"",h.chat_off?"chat off":"",h.emote_only?"emote-only":"",h.reactions_off?"reactions off":"",h.questions_off?"questions off":""].filter(Boolean).join(" · ")||"no controls on";const f=s.pinned;q(r("#pinned-now"),f?[f.id]:[],()=>f?`<span class="small">📌 ${a(f.name||f.user)}: ${a(f.text)}</span><button class="small" data-action="unpin" data-testid="unpin">Unpin</button>`:"",()=>{});const _=Object.entries(s.mod?.sanctions??{}).filter(([,t])=>t.until===void 0||t.until>Date.now()).sort(([t],[e])=>t<e?-1:1);q(r("#sanctions"),_,()=>_.length?_.map(([t,e])=>`
    <li class="row" data-user="${a(t)}"><span class="who">${a(t)}</span>
      <span class="muted small">${e.kind==="ban"?"banned":`timed out until ${new Date(e.until).toLocaleTimeString()}`} by ${a(e.by)}</span>
      <button class="small" data-action="unban" data-user="${a(t)}" data-testid="unban">Unban</button></li>`).join(""):'<li class="empty small">Nobody is banned or timed out.</li>',()=>{})}A(c,D);
