import{s as E,$ as c,h as O,n as j,t as q,p as w,o as M,f as _,r as D,a as S,e as n,i as z,b as T,c as A}from"./common.js";const u=E("host"),C=c("#app");C.append(O(u,"host console",{href:`/${location.search}`,text:"← Audience view"}));const k=document.createElement("main");k.className="grid host";k.innerHTML=`
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
      <form id="filter-form" class="stack" autocomplete="off">
        <input name="words" maxlength="2000" placeholder="Word filter: words separated by spaces or commas (private)" aria-label="filter words" data-testid="filter-words" />
        <div class="row"><select name="action" aria-label="filter action" data-testid="filter-action"><option value="mask">mask with *</option><option value="refuse">refuse the line</option></select>
        <button type="submit" data-testid="apply-filter">Set filter</button></div>
      </form>
      <h3>Sanctions</h3>
      <ol class="host-list" id="sanctions" data-testid="sanctions"></ol>
    </div>
    <div class="card chat">
      <div class="card-head"><h2>Chat moderation</h2><span class="muted" id="chat-count"></span></div>
      <ol class="chat-list" id="chat"></ol>
    </div>
  </section>`;C.append(k);const N=new Map;function L(s){return s.split(`
`).map(a=>a.trim()).filter(Boolean)}c("#poll-form").addEventListener("submit",s=>{s.preventDefault();const a=s.target,o=a.elements.namedItem("question").value.trim(),l=L(a.elements.namedItem("options").value),i=a.elements.namedItem("kind").value,m=Number(a.elements.namedItem("seconds").value)||void 0,d={poll_id:j("poll"),question:o,seconds:m};if(i==="rating")d.kind=i,d.scale=a.elements.namedItem("scale").value;else if(i==="text"||i==="cloud")d.kind=i;else{if(l.length<2||l.length>10)return q("A poll needs 2 to 10 options, one per line.");d.options=l,i!=="single"&&(d.kind=i)}w(u.room.publish({type:"poll.open",data:d}).then(()=>a.reset()))});c("#quiz-form").addEventListener("submit",s=>{s.preventDefault();const a=s.target,o=a.elements.namedItem("question").value.trim(),l=L(a.elements.namedItem("options").value),i=l.findIndex(b=>b.startsWith("*")),m=l.map(b=>b.replace(/^\*\s*/,""));if(m.length<2||m.length>10)return q("A quiz question needs 2 to 10 options, one per line.");if(i<0)return q("Mark the right option with a leading *.");const d=Number(a.elements.namedItem("points").value)||1,g=Number(a.elements.namedItem("seconds").value)||void 0,f=j("quiz");N.set(f,i),w(u.room.publish({type:"quiz.ask",data:{quiz_id:f,question:o,options:m,correct:i,points:d,seconds:g}}).then(()=>a.reset()))});c("#controls-form").addEventListener("submit",s=>{s.preventDefault();const a=s.target,o=i=>a.elements.namedItem(i).checked||void 0,l=Number(a.elements.namedItem("slow_mode").value)||void 0;w(u.room.setControls({slow_mode:l,chat_off:o("chat_off"),emote_only:o("emote_only"),reactions_off:o("reactions_off"),questions_off:o("questions_off")}))});c("#filter-form").addEventListener("submit",s=>{s.preventDefault();const a=s.target,o=a.elements.namedItem("words").value.split(/[\s,]+/).filter(Boolean),l=a.elements.namedItem("action").value;w(u.room.setFilter(o,l).then(()=>q(o.length?`Filter set: ${o.length} word(s), ${l}`:"Filter off","info")))});k.addEventListener("click",s=>{const a=s.target.closest("[data-action]");if(!a||a.disabled)return;const o=a.dataset,l=a;l.disabled=!0;const i=m=>w(m.catch(d=>{throw l.disabled=!1,d}));switch(o.action){case"close-poll":return i(u.room.publish({type:"poll.close",data:{poll_id:o.id}}));case"reveal":return i(u.room.publish({type:"quiz.reveal",data:{quiz_id:o.id}}));case"answered":return i(u.room.publish({type:"qa.answered",data:{question_id:o.id}}));case"delete":return i(u.room.publish({type:"chat.delete",data:{message_id:o.id}}));case"ban":return i(u.room.ban(o.user,{hide:!0,reason:"banned from the host console"}));case"timeout":return i(u.room.timeout(o.user,600,{hide:!0}));case"unban":return i(u.room.unban(o.user));case"pin":return i(u.room.pin(o.id));case"unpin":return i(u.room.unpin())}});function $(s,a,o,l){const i=JSON.stringify(a);s.dataset.sig!==i&&(s.dataset.sig=i,s.innerHTML=o()),l()}const I=s=>Object.entries(s).sort(([a],[o])=>a<o?1:-1);function B(s){const a=s.totals;c("#stats").innerHTML=[["viewers",s.viewers],["reactions",a.reactions],["chat",a.chat],["votes",a.votes],["questions",a.questions],["answers",a.answers]].map(([e,t])=>`<div class="stat"><b data-testid="total-${e}">${_(t)}</b><span>${e}</span></div>`).join(""),D(c("#custom"),s);const o=I(s.polls),l=c("#polls");$(l,o.map(([e,t])=>[e,t.closed,t.options,t.kind]),()=>o.length?o.map(([e,t])=>`
    <li data-id="${n(e)}" data-kind="${n(t.kind??"single")}">
      <div class="row"><p class="question">${n(t.question)}</p><span class="badge">${n(t.kind??"single")}</span>${t.closed?'<span class="badge">closed</span>':`<button class="danger small" data-action="close-poll" data-id="${n(e)}">Close</button>`}</div>
      ${t.options.map((r,p)=>`<div class="mini-bar"><span class="fill" data-i="${p}"></span><span class="label">${n(r)}</span><b data-i="${p}"></b></div>`).join("")}
      <p class="muted small"><span class="total"></span> <span class="summary" data-testid="host-poll-summary"></span></p>
    </li>`).join(""):'<li class="empty">No polls yet. Open one above; the audience sees it at once.</li>',()=>{for(const[e,t]of o){const r=l.querySelector(`li[data-id="${CSS.escape(e)}"]`);if(!r)continue;r.querySelector(".summary").textContent=F(t);const p=t.votes.reduce((y,v)=>y+v,0);t.options.forEach((y,v)=>{r.querySelector(`.fill[data-i="${v}"]`).style.width=`${p?100*(t.votes[v]??0)/p:0}%`,r.querySelector(`b[data-i="${v}"]`).textContent=String(t.votes[v]??0)}),r.querySelector(".total").textContent=t.kind&&t.kind!=="single"?`${t.voters??0} voters`:`${p} votes`}});const i=I(s.quizzes),m=c("#quizzes");$(m,i.map(([e,t])=>[e,t.revealed]),()=>i.length?i.map(([e,t])=>{const r=t.revealed?t.correct:N.get(e);return`<li data-id="${n(e)}">
      <div class="row"><p class="question">${n(t.question)}</p>${t.revealed?'<span class="badge">revealed</span>':`<button class="primary small" data-action="reveal" data-id="${n(e)}">Reveal</button>`}</div>
      <p class="muted small">${t.options.map((p,y)=>y===r?`<b class="ok">✓ ${n(p)}</b>`:n(p)).join(" · ")} — ${t.points} pts · <span class="answers"></span> answers</p>
    </li>`}).join(""):'<li class="empty">No quiz questions yet.</li>',()=>{for(const[e,t]of i){const r=m.querySelector(`li[data-id="${CSS.escape(e)}"] .answers`);r&&(r.textContent=String(t.answers))}}),c("#leaderboard").innerHTML=s.leaderboard.length?s.leaderboard.map((e,t)=>`<li><span class="rank">${t+1}</span><span class="avatar" style="--h:${S(e.user)}">${n(z(e.user))}</span><span class="who">${n(e.user)}</span><b>${e.score}</b></li>`).join(""):'<li class="empty small">Reveal an answer to score the room.</li>';const d=Object.entries(s.questions).sort(([e,t],[r,p])=>Number(t.answered)-Number(p.answered)||p.upvotes-t.upvotes||t.ts-p.ts||(e<r?-1:1));c("#qa-count").textContent=`${d.length} question${d.length===1?"":"s"}`;const g=c("#qa");$(g,d.map(([e,t])=>[e,t.answered]),()=>d.length?d.map(([e,t])=>`
    <li class="qa-item${t.answered?" answered":""}" data-id="${n(e)}">
      <span class="upvote static">▲<b></b></span>
      <div><p class="text">${n(t.text)}</p><span class="muted small">${n(t.user)}</span></div>
      ${t.answered?'<span class="badge ok">answered</span>':`<button class="small" data-action="answered" data-id="${n(e)}">Mark answered</button>`}
    </li>`).join(""):'<li class="empty">No questions yet.</li>',()=>{for(const[e,t]of d){const r=g.querySelector(`li[data-id="${CSS.escape(e)}"] .upvote b`);r&&(r.textContent=String(t.upvotes))}});const f=[...s.chat].reverse();c("#chat-count").textContent=`${_(a.chat)} messages`,$(c("#chat"),f.map(e=>e.id),()=>f.length?f.map(e=>`
    <li class="chat-line" data-id="${n(e.id)}">
      <span class="avatar" style="--h:${S(e.user)}">${n(z(e.name||e.user))}</span>
      <div><span class="who">${n(e.name||e.user)}</span><span class="when">${T(e.ts)}</span><p class="text">${n(e.text)}</p></div>
      <button class="danger small" data-action="delete" data-id="${n(e.id)}" aria-label="delete message">Delete</button>
      <button class="small" data-action="pin" data-id="${n(e.id)}" data-testid="pin" aria-label="pin message">Pin</button>
      <button class="small" data-action="timeout" data-user="${n(e.user)}" data-testid="timeout" aria-label="time out ${n(e.user)} for 10 minutes">10 min</button>
      <button class="danger small" data-action="ban" data-user="${n(e.user)}" data-testid="ban" aria-label="ban ${n(e.user)}">Ban</button>
    </li>`).join(""):'<li class="empty">No messages yet.</li>',()=>{});const b=s.mod?.controls??{};c("[data-testid=controls-now]").textContent=[b.slow_mode?`slow mode ${b.slow_mode} s`:"",b.chat_off?"chat off":"",b.emote_only?"emote-only":"",b.reactions_off?"reactions off":"",b.questions_off?"questions off":""].filter(Boolean).join(" · ")||"no controls on";const h=s.pinned;$(c("#pinned-now"),h?[h.id]:[],()=>h?`<span class="small">📌 ${n(h.name||h.user)}: ${n(h.text)}</span><button class="small" data-action="unpin" data-testid="unpin">Unpin</button>`:"",()=>{});const x=Object.entries(s.mod?.sanctions??{}).filter(([,e])=>e.until===void 0||e.until>Date.now()).sort(([e],[t])=>e<t?-1:1);$(c("#sanctions"),x,()=>x.length?x.map(([e,t])=>`
    <li class="row" data-user="${n(e)}"><span class="who">${n(e)}</span>
      <span class="muted small">${t.kind==="ban"?"banned":`timed out until ${new Date(t.until).toLocaleTimeString()}`} by ${n(t.by)}</span>
      <button class="small" data-action="unban" data-user="${n(e)}" data-testid="unban">Unban</button></li>`).join(""):'<li class="empty small">Nobody is banned or timed out.</li>',()=>{})}M(u,B);function F(s){const a=[];if(s.kind==="rating"){const o=A(s);a.push(o===void 0?"no ratings yet":`mean ${o.toFixed(2)}`)}else if(s.kind==="cloud")a.push((s.words??[]).slice(0,5).map(o=>`${o.word} ×${o.count}`).join(", ")||"no words yet");else if(s.kind==="text"){const o=(s.texts??[]).at(-1);a.push(o?`latest: “${o.text}”`:"no answers yet")}else if(s.kind==="ranking"){const o=s.votes.indexOf(Math.max(...s.votes));a.push(s.voters?`leading: ${s.options[o]} (Borda ${s.votes[o]})`:"no ballots yet")}return s.closes_at&&!s.closed&&a.push(`closes ${new Date(s.closes_at).toLocaleTimeString()}`),a.join(" · ")}
