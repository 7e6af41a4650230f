//! Small geometric helpers: clipping, polyline splitting, and legend placement
//! by an occupancy grid over the plotting area.

type Pt = (f64, f64);

/// An axis-aligned rectangle, x range and y range: in drawing space, or
/// (placed boxes) in the normalised plotting area, the unit square, y up.
pub(crate) type Bounds = (Pt, Pt);

pub(crate) fn contains(((x0, x1), (y0, y1)): Bounds, (x, y): Pt) -> bool {
    (x0..=x1).contains(&x) && (y0..=y1).contains(&y)
}

/// Liang–Barsky clip of segment `a`–`b` to `r`.
fn clip_segment(a: Pt, b: Pt, ((x0, x1), (y0, y1)): Bounds) -> Option<(Pt, Pt)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 && q < 0.0 {
            return None;
        } else if p < 0.0 {
            t0 = t0.max(q / p);
        } else if p > 0.0 {
            t1 = t1.min(q / p);
        }
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    (t0 <= t1).then(|| (at(t0), at(t1)))
}

/// Clips a polyline to `r`, returning the visible pieces.
pub(crate) fn clip_polyline(pts: &[Pt], r: Bounds) -> Vec<Vec<Pt>> {
    let mut out: Vec<Vec<Pt>> = vec![];
    if let [p] = pts {
        out.extend(contains(r, *p).then(|| vec![*p]));
    }
    for w in pts.windows(2) {
        let Some((a, b)) = clip_segment(w[0], w[1], r) else {
            out.push(vec![]); // the next visible segment starts a new piece
            continue;
        };
        let near = |l: &Pt| (l.0 - a.0).abs() < 1e-12 && (l.1 - a.1).abs() < 1e-12;
        match out.last_mut() {
            Some(run) if run.last().is_some_and(near) => run.push(b),
            _ => out.push(vec![a, b]),
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Splits a sequence of optional points into runs of consecutive valid points.
pub(crate) fn split_runs<T: Copy>(pts: impl IntoIterator<Item = Option<T>>) -> Vec<Vec<T>> {
    let pts: Vec<Option<T>> = pts.into_iter().collect();
    let runs = pts.split(|p| p.is_none()).filter(|r| !r.is_empty());
    runs.map(|r| r.iter().flatten().copied().collect())
        .collect()
}

/// Coarse occupancy grid over the normalised plotting area, used to put
/// legends where they hide the least data.
pub(crate) struct Occupancy {
    nx: usize,
    ny: usize,
    w: Vec<f32>,
}

impl Occupancy {
    pub fn new(nx: usize, ny: usize) -> Self {
        let w = vec![0.0; nx * ny];
        Occupancy { nx, ny, w }
    }

    fn mark(&mut self, (u, v): Pt, weight: f32) {
        if (0.0..=1.0).contains(&u) && (0.0..=1.0).contains(&v) {
            let i = ((u * self.nx as f64) as usize).min(self.nx - 1);
            let j = ((v * self.ny as f64) as usize).min(self.ny - 1);
            let c = &mut self.w[j * self.nx + i];
            *c = c.max(weight);
        }
    }

    pub fn mark_segment(&mut self, a: Pt, b: Pt, weight: f32) {
        let len = ((b.0 - a.0) * self.nx as f64).hypot((b.1 - a.1) * self.ny as f64);
        let n = (len * 2.0).ceil().clamp(1.0, 10_000.0) as usize;
        for k in 0..=n {
            let t = k as f64 / n as f64;
            self.mark((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)), weight);
        }
    }

    /// Total weight of the cells that `p` overlaps.
    fn cost(&self, &((u0, u1), (v0, v1)): &Bounds) -> f64 {
        let cells = |lo: f64, hi: f64, n: usize| {
            (lo * n as f64).floor().max(0.0) as usize..((hi * n as f64).ceil() as usize).min(n)
        };
        let is = cells(u0, u1, self.nx);
        let js = cells(v0, v1, self.ny);
        let w = js.flat_map(|j| is.clone().map(move |i| self.w[j * self.nx + i] as f64));
        w.sum()
    }
}

/// A box of `size` placed `pad` in from the sides, in preference order:
/// the corners (right first), then the middles of the top, bottom and sides.
fn candidates((w, h): Pt, (pad_x, pad_y): Pt) -> [Bounds; 8] {
    let (left, center, right) = (pad_x, 0.5 - w / 2.0, 1.0 - pad_x - w);
    let (bottom, mid, top) = (pad_y, 0.5 - h / 2.0, 1.0 - pad_y - h);
    let us = [right, left, right, left, center, center, right, left];
    let vs = [top, top, bottom, bottom, top, bottom, mid, mid];
    let at: [Pt; 8] = std::array::from_fn(|k| (us[k], vs[k]));
    at.map(|(u0, v0)| ((u0, u0 + w), (v0, v0 + h)))
}

/// Places boxes of the given `(size, pad)` so that they do not overlap each
/// other and cover as little data as possible, earlier candidates winning
/// near-ties. Returns the placements and the total covered weight.
pub(crate) fn place_boxes(occ: &Occupancy, boxes: &[(Pt, Pt)]) -> (Vec<Bounds>, f64) {
    let cands: Vec<[Bounds; 8]> = boxes.iter().map(|&(s, p)| candidates(s, p)).collect();
    let apart = |(a0, a1): Pt, (b0, b1): Pt| a1 <= b0 || b1 <= a0;
    let overlap = |a: &Bounds, b: &Bounds| !apart(a.0, b.0) && !apart(a.1, b.1);
    // Boxes too big to fit side by side go in different corners.
    let corner = |(i, c): (usize, &[Bounds; 8])| c[(3 * i) % 8];
    let corners: Vec<Bounds> = cands.iter().enumerate().map(corner).collect();
    let corner_cost = corners.iter().map(|p| occ.cost(p)).sum();
    let mut best = (f64::INFINITY, corners, corner_cost);
    let n = boxes.len() as u32;
    for combo in 0..8usize.pow(n) {
        // Candidate index of box i: digit i (most significant first) in base 8.
        let ks: Vec<usize> = (0..n).map(|i| combo / 8usize.pow(n - 1 - i) % 8).collect();
        let placed: Vec<Bounds> = ks.iter().zip(&cands).map(|(&k, c)| c[k]).collect();
        let clash = |i: usize| placed[..i].iter().any(|b| overlap(&placed[i], b));
        if (0..placed.len()).any(clash) {
            continue;
        }
        let cost: f64 = placed.iter().map(|p| occ.cost(p)).sum();
        let score = cost + 0.01 * ks.iter().sum::<usize>() as f64;
        if score < best.0 {
            best = (score, placed, cost);
        }
    }
    (best.1, best.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_inside_parts() {
        let r = ((0.0, 1.0), (0.0, 1.0));
        let pts = [
            (-1.0, 0.5),
            (0.5, 0.5),
            (3.0, 0.5),
            (3.0, 0.25),
            (0.5, 0.25),
        ];
        let xs: Vec<Vec<f64>> = (clip_polyline(&pts, r).iter())
            .map(|p| p.iter().map(|q| q.0).collect())
            .collect();
        let want = [vec![0.0, 0.5, 1.0], vec![1.0, 0.5]];
        let close = |(a, b): (&Vec<f64>, &Vec<f64>)| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12)
        };
        assert!(xs.len() == 2 && xs.iter().zip(&want).all(close), "{xs:?}");
        assert!(clip_polyline(&[(2.0, 2.0), (3.0, 3.0)], r).is_empty());
    }

    #[test]
    fn legend_avoids_data_and_the_other_box() {
        let mut occ = Occupancy::new(40, 30);
        occ.mark_segment((0.0, 0.95), (1.0, 0.95), 1.0); // data along the top edge
        let b = ((0.3, 0.2), (0.02, 0.02));
        let (p, cost) = place_boxes(&occ, &[b, b]);
        assert_eq!(cost, 0.0);
        assert!(p.iter().all(|p| p.1 .1 < 0.5), "{p:?}");
        assert_eq!(p[0], candidates(b.0, b.1)[2]); // bottom right, then bottom left
        assert_eq!(p[1], candidates(b.0, b.1)[3]);
    }
}
