// Helpers shared by the widget.
export function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleDateString();
}

export function el(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

export const sorters = {
  byName: (a, b) => a.name.localeCompare(b.name),
  byStatus: (a, b) => String(a.status).localeCompare(String(b.status)),
};

export function pick(obj, key) {
  return obj['name'] ?? obj[key]; // literal and computed access on ordinary objects
}

export const defaultExport = import.meta.url.endsWith('.js') ? sorters.default
  : null;
