import{s as H,$ as r,h as N,p as h,o as T,f,e as l,l as w,a as j,i as x,b as C}from"./common.js";const z=["👏","❤️","🔥","😂","🎉","😮"],p=H("guest"),S=r("#app");S.append(N(p,"live room",{href:`/host${location.search}`,text:"Host console →"}));const b=document.createElement("main");b.className="grid";b.innerHTML=`
  <section class="col">
    <div class="card reactions">
      <div class="card-head"><h2>Reactions</h2><span class="muted" data-testid="reactions-total">0 total</span></div>
      <div class="emoji-row">${z.map(s=>`
        <button class="emoji" data-action="react" data-emoji="${s}" aria-label="react ${s}">
          <span class="e">${s}</span><span class="n" data-testid="reaction-count" data-emoji="${s}">0</span>
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
      <ol class="chat-list" id="chat" data-testid="chat"></ol>
      <form class="composer" id="chat-form" autocomplete="off">
        <input name="text" maxlength="500" placeholder="Say something nice…" aria-label="chat message" data-testid="chat-input" />
        <button type="submit" class="primary">Send</button>
      </form>
    </div>
    <div class="card qa">
      <div class="card-head"><h2>Q&amp;A</h2><span class="muted" id="qa-count">0 questions</span></div>
      <form class="composer" id="qa-form" autocomplete="off">
        <input name="text" maxlength="300" placeholder="Ask the speaker a question…" aria-label="question" data-testid="qa-input" />
        <button type="submit">Ask</button>
      </form>
      <ol class="qa-list" id="qa"></ol>
    </div>
  </section>`;S.append(b);const M=new Map,L=new Map,g=new Set;function k(s,a){const t=document.createElement("span");t.className="float",t.textContent=a,t.style.left=`${20+Math.random()*60}%`,s.append(t),setTimeout(()=>t.remove(),1200)}b.addEventListener("click",s=>{const a=s.target.closest("[data-action]");if(!a||a.disabled)return;const t=a.dataset;switch(t.action){case"react":k(a,t.emoji),h(p.room.publish({type:"reaction",data:{emoji:t.emoji}}));return;case"vote":{const o=Number(t.option);M.set(t.poll,o),h(p.room.publish({type:"poll.vote",data:{poll_id:t.poll,option:o}})),q(p.room.state);return}case"answer":{const o=Number(t.option);L.set(t.quiz,o),h(p.room.publish({type:"quiz.answer",data:{quiz_id:t.quiz,option:o}})),q(p.room.state);return}case"upvote":g.add(t.question),h(p.room.publish({type:"qa.upvote",data:{question_id:t.question}})),q(p.room.state);return}});r("#chat-form").addEventListener("submit",s=>{s.preventDefault();const a=r("input",s.target),t=a.value.trim();t&&(a.value="",h(p.room.publish({type:"chat.message",data:{text:t,name:p.name}})))});r("#qa-form").addEventListener("submit",s=>{s.preventDefault();const a=r("input",s.target),t=a.value.trim();t&&(a.value="",h(p.room.publish({type:"qa.ask",data:{text:t}})))});function A(s){for(const t of b.querySelectorAll("[data-testid=reaction-count]"))t.textContent=f(s.reactions[t.dataset.emoji]??0);r("[data-testid=reactions-total]").textContent=`${f(s.totals.reactions)} total`;const a=Object.entries(s.reactions).filter(([t])=>!z.includes(t)).sort((t,o)=>o[1]-t[1]).slice(0,8);r("#extra-emoji").innerHTML=a.map(([t,o])=>`<span class="chip">${l(t)} ${f(o)}</span>`).join("")}function E(s){const a=r("#poll"),t=Object.entries(s.polls).filter(([,c])=>!c.closed).sort(([c],[d])=>c<d?-1:1),o=t.length?t[t.length-1]:w(s.polls);if(!o){a.dataset.sig="",a.innerHTML='<div class="card-head"><h2>Poll</h2></div><p class="empty">No poll yet. When the host opens one, it shows up here and the bars move live.</p>';return}const[n,e]=o,i=e.votes.reduce((c,d)=>c+d,0),u=M.get(n),m=JSON.stringify([n,e.closed,e.options,u]);if(a.dataset.sig===m){e.options.forEach((c,d)=>{const v=e.votes[d]??0,$=i?Math.round(100*v/i):0,y=a.querySelector(`.option[data-option="${d}"]`);y.querySelector(".bar").style.width=`${$}%`,y.querySelector(".count").innerHTML=`<b data-testid="poll-votes" data-option="${d}">${v}</b> · ${$}%`}),r("[data-testid=poll-total]",a).textContent=String(i);return}a.dataset.sig=m,a.innerHTML=`
    <div class="card-head"><h2>Poll</h2>${e.closed?'<span class="badge">closed</span>':'<span class="badge live">live</span>'}</div>
    <p class="question">${l(e.question)}</p>
    <div class="options">${e.options.map((c,d)=>{const v=e.votes[d]??0,$=i?Math.round(100*v/i):0;return`<button class="option${u===d?" mine":""}" data-action="vote" data-poll="${l(n)}" data-option="${d}" ${e.closed?"disabled":""}>
        <span class="bar" style="width:${$}%"></span>
        <span class="label">${l(c)}</span>
        <span class="count"><b data-testid="poll-votes" data-option="${d}">${v}</b> · ${$}%</span>
      </button>`}).join("")}</div>
    <p class="muted small"><span data-testid="poll-total">${i}</span> votes${u!==void 0?" · you can change your vote":""}</p>`}function O(s){const a=r("#quiz"),t=w(s.quizzes),o=s.leaderboard.length?`<ol class="leaderboard">${s.leaderboard.map((m,c)=>`
        <li class="${m.user===p.user?"me":""}"><span class="rank">${c+1}</span><span class="avatar" style="--h:${j(m.user)}">${l(x(m.user))}</span><span class="who">${l(m.user)}</span><b>${m.score}</b></li>`).join("")}</ol>`:'<p class="empty small">The leaderboard fills up when the host reveals an answer.</p>';if(!t){a.dataset.sig="",a.innerHTML=`<div class="card-head"><h2>Quiz</h2></div><p class="empty">No quiz question yet.</p><h3>Leaderboard</h3>${o}`;return}const[n,e]=t,i=L.get(n),u=JSON.stringify([n,e.revealed,e.options,i,s.leaderboard]);if(a.dataset.sig===u){r("[data-testid=quiz-answers]",a).textContent=String(e.answers);return}a.dataset.sig=u,a.innerHTML=`
    <div class="card-head"><h2>Quiz</h2>${e.revealed?'<span class="badge">revealed</span>':`<span class="badge live">${e.points} pt${e.points===1?"":"s"}</span>`}</div>
    <p class="question">${l(e.question)}</p>
    <div class="options quiz-options">${e.options.map((m,c)=>`<button class="option ${[i===c?"mine":"",e.revealed&&e.correct===c?"correct":"",e.revealed&&i===c&&e.correct!==c?"wrong":""].join(" ")}" data-action="answer" data-quiz="${l(n)}" data-option="${c}" ${e.revealed||i!==void 0?"disabled":""}><span class="label">${l(m)}</span></button>`).join("")}</div>
    <p class="muted small"><span data-testid="quiz-answers">${e.answers}</span> answers${i!==void 0&&!e.revealed?" · locked in, wait for the reveal":""}</p>
    <h3>Leaderboard</h3>${o}`}function Q(s){const a=r("#chat"),t=a.scrollHeight-a.scrollTop-a.clientHeight<40;a.innerHTML=s.chat.length?s.chat.map(o=>`
      <li class="chat-line" data-id="${l(o.id)}">
        <span class="avatar" style="--h:${j(o.user)}">${l(x(o.name||o.user))}</span>
        <div><span class="who">${l(o.name||o.user)}</span><span class="when">${C(o.ts)}</span><p class="text">${l(o.text)}</p></div>
      </li>`).join(""):'<li class="empty">No messages yet. Say hi!</li>',t&&(a.scrollTop=a.scrollHeight),r("[data-testid=chat-total]").textContent=`${f(s.totals.chat)} messages`}function J(s){const a=Object.entries(s.questions).sort(([n,e],[i,u])=>Number(e.answered)-Number(u.answered)||u.upvotes-e.upvotes||e.ts-u.ts||(n<i?-1:1));r("#qa-count").textContent=`${a.length} question${a.length===1?"":"s"}`;const t=r("#qa"),o=JSON.stringify(a.map(([n,e])=>[n,e.answered,g.has(n)]));if(t.dataset.sig===o){for(const[n,e]of a){const i=t.querySelector(`.qa-item[data-id="${CSS.escape(n)}"] .upvote b`);i&&(i.textContent=String(e.upvotes))}return}t.dataset.sig=o,t.innerHTML=a.length?a.map(([n,e])=>`
      <li class="qa-item${e.answered?" answered":""}" data-id="${l(n)}">
        <button class="upvote${g.has(n)?" mine":""}" data-action="upvote" data-question="${l(n)}" ${g.has(n)||e.answered?"disabled":""} aria-label="upvote">▲<b>${e.upvotes}</b></button>
        <div><p class="text">${l(e.text)}</p><span class="muted small">${l(e.user)}${e.answered?' · <span class="badge ok">answered</span>':""}</span></div>
      </li>`).join(""):'<li class="empty">No questions yet. Ask one — the most upvoted rise to the top.</li>'}function q(s){A(s),E(s),O(s),Q(s),J(s)}T(p,q);
