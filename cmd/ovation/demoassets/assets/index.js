import{s as N,$ as i,h as A,p as f,P as y,t as E,o as O,f as $,e as d,l as C,a as M,i as T,b as Q}from"./common.js";const L=["👏","❤️","🔥","😂","🎉","😮"],c=N("guest"),_=i("#app");_.append(A(c,"live room",{href:`/host${location.search}`,text:"Host console →"}));const b=document.createElement("main");b.className="grid";b.innerHTML=`
  <section class="col">
    <div class="card reactions">
      <div class="card-head"><h2>Reactions</h2><span class="muted" data-testid="reactions-total">0 total</span></div>
      <div class="emoji-row">${L.map(e=>`
        <button class="emoji" data-action="react" data-emoji="${e}" aria-label="react ${e}">
          <span class="e">${e}</span><span class="n" data-testid="reaction-count" data-emoji="${e}">0</span>
        </button>`).join("")}
      </div>
      <div class="extra-emoji" id="extra-emoji"></div>
    </div>
    <div class="card poll" id="poll" data-testid="poll"></div>
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
  </section>`;_.append(b);const k=new Map,H=new Map,g=new Set;function D(e,t){const a=document.createElement("span");a.className="float",a.textContent=t,a.style.left=`${20+Math.random()*60}%`,e.append(a),setTimeout(()=>a.remove(),1200)}b.addEventListener("click",e=>{const t=e.target.closest("[data-action]");if(!t||t.disabled)return;const a=t.dataset;switch(a.action){case"react":D(t,a.emoji),f(c.room.publish({type:"reaction",data:{emoji:a.emoji}}));return;case"vote":{const n=Number(a.option);k.set(a.poll,n),f(c.room.publish({type:"poll.vote",data:{poll_id:a.poll,option:n}})),w(c.room.state);return}case"answer":{const n=Number(a.option);H.set(a.quiz,n),f(c.room.publish({type:"quiz.answer",data:{quiz_id:a.quiz,option:n}})),w(c.room.state);return}case"upvote":g.add(a.question),f(c.room.publish({type:"qa.upvote",data:{question_id:a.question}})),w(c.room.state);return}});i("#chat-form").addEventListener("submit",e=>{e.preventDefault();const t=i("input",e.target),a=t.value.trim();if(!a)return;t.value="";const n=c.room.state.mod?.controls.slow_mode??0;c.room.publish({type:"chat.message",data:{text:a,name:c.name}}).then(()=>{n>0&&z(n)},o=>{o instanceof y&&o.code==="slow_mode"&&o.retryAfter&&z(o.retryAfter),o instanceof y&&o.code==="banned"&&x(o.until),E(o.message)})});let S=0,q;function z(e){S=Date.now()+e*1e3;const t=i("[data-testid=slow-countdown]"),a=i("[data-testid=chat-send]"),n=()=>{const o=Math.ceil((S-Date.now())/1e3);if(o<=0){clearInterval(q),t.hidden=!0,a.disabled=!1;return}t.hidden=!1,t.textContent=`Slow mode: you can send again in ${o} s`,a.disabled=!0};clearInterval(q),q=setInterval(n,250),n()}function x(e){const t=i("[data-testid=banned]");t.hidden=!1,t.textContent=e?`You are timed out in this room until ${new Date(e).toLocaleTimeString()}.`:"You are banned from this room.",i("[data-testid=chat-send]").disabled=!0}c.room.on("error",e=>{e instanceof y&&e.code==="banned"&&x(e.until)});function P(e){const t=e.mod?.controls??{},a=[t.slow_mode?`Slow mode: one message every ${t.slow_mode} s`:"",t.chat_off?"Chat is off":"",t.emote_only?"Emote-only chat":"",t.reactions_off?"Reactions are off":"",t.questions_off?"Questions are closed":""].filter(Boolean),n=i("[data-testid=controls]");n.hidden=a.length===0,n.textContent=a.join(" · ");const o=i("[data-testid=pinned]");o.hidden=!e.pinned,o.textContent=e.pinned?`📌 ${e.pinned.name||e.pinned.user}: ${e.pinned.text}`:"";const s=c.room.sanction(c.user);s&&x(s.until)}i("#qa-form").addEventListener("submit",e=>{e.preventDefault();const t=i("input",e.target),a=t.value.trim();a&&(t.value="",f(c.room.publish({type:"qa.ask",data:{text:a}})))});function I(e){for(const a of b.querySelectorAll("[data-testid=reaction-count]"))a.textContent=$(e.reactions[a.dataset.emoji]??0);i("[data-testid=reactions-total]").textContent=`${$(e.totals.reactions)} total`;const t=Object.entries(e.reactions).filter(([a])=>!L.includes(a)).sort((a,n)=>n[1]-a[1]).slice(0,8);i("#extra-emoji").innerHTML=t.map(([a,n])=>`<span class="chip">${d(a)} ${$(n)}</span>`).join("")}function J(e){const t=i("#poll"),a=Object.entries(e.polls).filter(([,r])=>!r.closed).sort(([r],[p])=>r<p?-1:1),n=a.length?a[a.length-1]:C(e.polls);if(!n){t.dataset.sig="",t.innerHTML=`<div class="card-head"><h2>Poll</h2></div><p class="empty">No poll yet. Open the <a href="/host${d(location.search)}" target="_blank">host console</a> in another tab and start one: it shows up here and the bars move live.</p>`;return}const[o,s]=n,l=s.votes.reduce((r,p)=>r+p,0),u=k.get(o),m=JSON.stringify([o,s.closed,s.options,u]);if(t.dataset.sig===m){s.options.forEach((r,p)=>{const h=s.votes[p]??0,v=l?Math.round(100*h/l):0,j=t.querySelector(`.option[data-option="${p}"]`);j.querySelector(".bar").style.width=`${v}%`,j.querySelector(".count").innerHTML=`<b data-testid="poll-votes" data-option="${p}">${h}</b> · ${v}%`}),i("[data-testid=poll-total]",t).textContent=String(l);return}t.dataset.sig=m,t.innerHTML=`
    <div class="card-head"><h2>Poll</h2>${s.closed?'<span class="badge">closed</span>':'<span class="badge live">live</span>'}</div>
    <p class="question">${d(s.question)}</p>
    <div class="options">${s.options.map((r,p)=>{const h=s.votes[p]??0,v=l?Math.round(100*h/l):0;return`<button class="option${u===p?" mine":""}" data-action="vote" data-poll="${d(o)}" data-option="${p}" ${s.closed?"disabled":""}>
        <span class="bar" style="width:${v}%"></span>
        <span class="label">${d(r)}</span>
        <span class="count"><b data-testid="poll-votes" data-option="${p}">${h}</b> · ${v}%</span>
      </button>`}).join("")}</div>
    <p class="muted small"><span data-testid="poll-total">${l}</span> votes${u!==void 0?" · you can change your vote":""}</p>`}function B(e){const t=i("#quiz"),a=C(e.quizzes),n=e.leaderboard.length?`<ol class="leaderboard">${e.leaderboard.map((m,r)=>`
        <li class="${m.user===c.user?"me":""}"><span class="rank">${r+1}</span><span class="avatar" style="--h:${M(m.user)}">${d(T(m.user))}</span><span class="who">${d(m.user)}</span><b>${m.score}</b></li>`).join("")}</ol>`:'<p class="empty small">The leaderboard fills up when the host reveals an answer.</p>';if(!a){t.dataset.sig="",t.innerHTML=`<div class="card-head"><h2>Quiz</h2></div><p class="empty">No quiz question yet. The host asks one from the <a href="/host${d(location.search)}" target="_blank">host console</a>.</p><h3>Leaderboard</h3>${n}`;return}const[o,s]=a,l=H.get(o),u=JSON.stringify([o,s.revealed,s.options,l,e.leaderboard]);if(t.dataset.sig===u){i("[data-testid=quiz-answers]",t).textContent=String(s.answers);return}t.dataset.sig=u,t.innerHTML=`
    <div class="card-head"><h2>Quiz</h2>${s.revealed?'<span class="badge">revealed</span>':`<span class="badge live">${s.points} pt${s.points===1?"":"s"}</span>`}</div>
    <p class="question">${d(s.question)}</p>
    <div class="options quiz-options">${s.options.map((m,r)=>`<button class="option ${[l===r?"mine":"",s.revealed&&s.correct===r?"correct":"",s.revealed&&l===r&&s.correct!==r?"wrong":""].join(" ")}" data-action="answer" data-quiz="${d(o)}" data-option="${r}" ${s.revealed||l!==void 0?"disabled":""}><span class="label">${d(m)}</span></button>`).join("")}</div>
    <p class="muted small"><span data-testid="quiz-answers">${s.answers}</span> answers${l!==void 0&&!s.revealed?" · locked in, wait for the reveal":""}</p>
    <h3>Leaderboard</h3>${n}`}function R(e){const t=i("#chat"),a=t.scrollHeight-t.scrollTop-t.clientHeight<40;t.innerHTML=e.chat.length?e.chat.map(n=>`
      <li class="chat-line" data-id="${d(n.id)}">
        <span class="avatar" style="--h:${M(n.user)}">${d(T(n.name||n.user))}</span>
        <div><span class="who">${d(n.name||n.user)}</span><span class="when">${Q(n.ts)}</span><p class="text">${d(n.text)}</p></div>
      </li>`).join(""):'<li class="empty">No messages yet. Say hi!</li>',a&&(t.scrollTop=t.scrollHeight),i("[data-testid=chat-total]").textContent=`${$(e.totals.chat)} messages`}function U(e){const t=Object.entries(e.questions).sort(([o,s],[l,u])=>Number(s.answered)-Number(u.answered)||u.upvotes-s.upvotes||s.ts-u.ts||(o<l?-1:1));i("#qa-count").textContent=`${t.length} question${t.length===1?"":"s"}`;const a=i("#qa"),n=JSON.stringify(t.map(([o,s])=>[o,s.answered,g.has(o)]));if(a.dataset.sig===n){for(const[o,s]of t){const l=a.querySelector(`.qa-item[data-id="${CSS.escape(o)}"] .upvote b`);l&&(l.textContent=String(s.upvotes))}return}a.dataset.sig=n,a.innerHTML=t.length?t.map(([o,s])=>`
      <li class="qa-item${s.answered?" answered":""}" data-id="${d(o)}">
        <button class="upvote${g.has(o)?" mine":""}" data-action="upvote" data-question="${d(o)}" ${g.has(o)||s.answered?"disabled":""} aria-label="upvote">▲<b>${s.upvotes}</b></button>
        <div><p class="text">${d(s.text)}</p><span class="muted small">${d(s.user)}${s.answered?' · <span class="badge ok">answered</span>':""}</span></div>
      </li>`).join(""):'<li class="empty">No questions yet. Ask one — the most upvoted rise to the top.</li>'}function w(e){P(e),I(e),J(e),B(e),R(e),U(e)}O(c,w);
