// map.js - a small SVG map of the buurten from GET /api/v1/areas. No tiles
// and no library: the polygons are projected (equirectangular, scaled by
// cos(latitude), good enough for one gemeente) and fitted to the bounding
// box. Every buurt is a focusable button (Tab, Enter/Space), so the map is
// usable without a mouse; activating a buurt by keyboard acts as a click
// at its interior point.

const SVG = 'http://www.w3.org/2000/svg';
const M_PER_DEG = 111320;

function el(tag, attrs = {}) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
}

function rings(geometry) {
    if (!geometry) return [];
    if (geometry.type === 'Polygon') return geometry.coordinates;
    if (geometry.type === 'MultiPolygon') return geometry.coordinates.flat();
    return [];
}

export class AreaMap {
    // container: an element to draw into. opts.label: accessible name.
    constructor(container, geojson, { label = '', onActivate = null, showLabels = true } = {}) {
        this.container = container;
        this.features = geojson.features || [];
        this.onActivate = onActivate; // ({code, lat, lon, keyboard}) => void
        this.byCode = new Map();
        let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity;
        for (const f of this.features) {
            for (const ring of rings(f.geometry)) {
                for (const [lon, lat] of ring) {
                    minLon = Math.min(minLon, lon);
                    maxLon = Math.max(maxLon, lon);
                    minLat = Math.min(minLat, lat);
                    maxLat = Math.max(maxLat, lat);
                }
            }
        }
        this.bbox = { minLon, maxLon, minLat, maxLat };
        this.kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
        const W = 1000;
        this.scale = W / ((maxLon - minLon) * this.kx || 1);
        this.pad = 10;
        const H = (maxLat - minLat) * this.scale;
        this.width = W + 2 * this.pad;
        this.height = H + 2 * this.pad;

        this.svg = el('svg', {
            viewBox: `0 0 ${this.width.toFixed(1)} ${this.height.toFixed(1)}`,
            class: 'areamap',
            role: 'group',
            'aria-label': label,
        });
        this.gBuurten = el('g', { class: 'buurten' });
        this.gLabels = el('g', { class: 'labels', 'aria-hidden': 'true' });
        this.gOverlay = el('g', { class: 'overlay', 'aria-hidden': 'true' });
        this.svg.append(this.gBuurten, this.gLabels, this.gOverlay);

        for (const f of this.features) {
            const p = f.properties || {};
            const d = rings(f.geometry).map((ring) => `M${ring.map(([lon, lat]) => {
                const [x, y] = this.project(lat, lon);
                return `${x.toFixed(1)},${y.toFixed(1)}`;
            }).join('L')}Z`).join('');
            const path = el('path', {
                d,
                class: 'buurt',
                tabindex: 0,
                role: 'button',
                'aria-pressed': 'false',
                'aria-label': `${p.buurtnaam} (${p.wijknaam || p.wijkcode})`,
                'data-code': p.buurtcode,
            });
            const title = el('title');
            title.textContent = `${p.buurtnaam} – ${p.wijknaam || p.wijkcode} (${p.buurtcode})`;
            path.append(title);
            this.gBuurten.append(path);
            const lat = p.lat ?? null;
            const lon = p.lon ?? null;
            const info = { code: p.buurtcode, name: p.buurtnaam, wijk: p.wijkcode, wijknaam: p.wijknaam,
                           gemeente: p.gemeentecode, gemeentenaam: p.gemeentenaam, lat, lon, path };
            this.byCode.set(p.buurtcode, info);
            if (showLabels && lat !== null) {
                const [x, y] = this.project(lat, lon);
                const text = el('text', { x: x.toFixed(1), y: y.toFixed(1), class: 'label' });
                text.textContent = p.buurtnaam;
                this.gLabels.append(text);
            }
        }

        this.svg.addEventListener('click', (ev) => this.onClick(ev));
        this.svg.addEventListener('keydown', (ev) => {
            const code = ev.target?.dataset?.code;
            if (!code || (ev.key !== 'Enter' && ev.key !== ' ')) return;
            ev.preventDefault();
            const b = this.byCode.get(code);
            this.onActivate?.({ code, lat: b.lat, lon: b.lon, keyboard: true });
        });
        container.replaceChildren(this.svg);
    }

    project(lat, lon) {
        return [
            this.pad + (lon - this.bbox.minLon) * this.kx * this.scale,
            this.pad + (this.bbox.maxLat - lat) * this.scale,
        ];
    }

    unproject(x, y) {
        return {
            lat: this.bbox.maxLat - (y - this.pad) / this.scale,
            lon: this.bbox.minLon + (x - this.pad) / (this.kx * this.scale),
        };
    }

    onClick(ev) {
        const pt = this.svg.createSVGPoint();
        pt.x = ev.clientX;
        pt.y = ev.clientY;
        const ctm = this.svg.getScreenCTM();
        if (!ctm) return;
        const p = pt.matrixTransform(ctm.inverse());
        const { lat, lon } = this.unproject(p.x, p.y);
        const code = ev.target?.dataset?.code || this.locate(lat, lon);
        this.onActivate?.({ code: code || null, lat, lon, keyboard: false });
    }

    // The buurt containing (lat, lon), by ray casting; null outside all.
    locate(lat, lon) {
        for (const f of this.features) {
            let inside = false;
            for (const ring of rings(f.geometry)) {
                for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
                    const [xi, yi] = ring[i];
                    const [xj, yj] = ring[j];
                    if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
                }
            }
            if (inside) return f.properties.buurtcode;
        }
        return null;
    }

    buurt(code) {
        return this.byCode.get(code) || null;
    }

    buurten() {
        return [...this.byCode.values()];
    }

    // Buurt codes get CSS classes: followed, alerted, selected, reached.
    setClass(code, cls, on) {
        const b = this.byCode.get(code);
        if (!b) return;
        b.path.classList.toggle(cls, !!on);
        if (cls === this.pressedClass) b.path.setAttribute('aria-pressed', on ? 'true' : 'false');
    }

    setClassSet(cls, codes) {
        const set = new Set(codes);
        for (const [code] of this.byCode) this.setClass(code, cls, set.has(code));
    }

    // Which class aria-pressed mirrors (the one a click toggles).
    setPressedClass(cls) {
        this.pressedClass = cls;
    }

    clearOverlay(kind) {
        for (const e of [...this.gOverlay.children]) if (!kind || e.dataset.kind === kind) e.remove();
    }

    setCircle(c) {
        this.clearOverlay('circle');
        if (!c) return;
        const [x, y] = this.project(c.lat, c.lon);
        const r = (c.radius_m / M_PER_DEG) * this.scale;
        const circle = el('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), class: 'shape circle' });
        circle.dataset.kind = 'circle';
        const centre = el('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: 4, class: 'vertex' });
        centre.dataset.kind = 'circle';
        this.gOverlay.append(circle, centre);
    }

    setPolygon(points) {
        this.clearOverlay('polygon');
        if (!points || !points.length) return;
        const xy = points.map(([lat, lon]) => this.project(lat, lon).map((v) => v.toFixed(1)).join(','));
        const shape = el(points.length >= 3 ? 'polygon' : 'polyline', { points: xy.join(' '), class: 'shape polygon' });
        shape.dataset.kind = 'polygon';
        this.gOverlay.append(shape);
        for (const p of xy) {
            const [x, y] = p.split(',');
            const v = el('circle', { cx: x, cy: y, r: 4, class: 'vertex' });
            v.dataset.kind = 'polygon';
            this.gOverlay.append(v);
        }
    }

    setMarker(pt) {
        this.clearOverlay('marker');
        if (!pt) return;
        const [x, y] = this.project(pt.lat, pt.lon);
        const g = el('g', { class: 'marker' });
        g.dataset.kind = 'marker';
        g.append(el('path', { d: `M${x.toFixed(1)},${y.toFixed(1)} l-9,-20 a10,10 0 1,1 18,0 z` }));
        this.gOverlay.append(g);
    }
}
