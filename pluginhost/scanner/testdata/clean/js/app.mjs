import { formatDate, el } from './util.js';

const API = '/api/v1';
const state = { projects: [], events: [] };

async function load() {
  const res = await fetch(`${API}/projects`, { headers: { Accept: 'application/json' } });
  if (!res.ok) {
    throw new Error(`projects: ${res.status}`);
  }
  state.projects = await res.json();
  const first = state.projects[0];
  if (first) {
    const ev = await fetch(`/api/v1/events/${encodeURIComponent(first.id)}`);
    state.events = ev.ok ? await ev.json() : [];
  }
  render();
}

function render() {
  const list = document.getElementById('projects');
  list.replaceChildren(...state.projects.map((p) => {
    const item = el('li', p.name);
    item.dataset.status = p.status ?? 'unknown';
    item.title = `Updated ${formatDate(p.updated_at)}`;
    return item;
  }));
  const top = list.getBoundingClientRect().top; // a local named top is no frame escape
  list.style.maxHeight = `${window.innerHeight - top}px`;
  document.querySelector('.hint').textContent = `${state.projects.length} projects`;
  localStorage.setItem('clean-widget:last-count', String(state.projects.length));
}

document.getElementById('refresh').addEventListener('click', () => load().catch(showError));
document.addEventListener('keydown', (e) => {
  if (e.key === 'r' && e.ctrlKey) {
    e.preventDefault(); // a shortcut, not a keylogger: nothing is sent
    render();
  }
});

window.addEventListener('message', (event) => {
  if (event.origin !== window.location.origin) {
    return;
  }
  if (event.data?.type === 'refresh') {
    load().catch(showError);
  }
});
window.parent.postMessage({ type: 'ready' }, window.location.origin);

function showError(err) {
  const box = el('div', err.message);
  box.className = 'error';
  document.getElementById('app').append(box);
}

for await (const _ of [Promise.resolve()]) {
  // top-level for-await: modern syntax the scanner must parse
}

setInterval(() => load().catch(showError), window.widgetConfig?.refreshInterval ?? 30000);
setTimeout(load, 0);
