//! Small geometric helpers: clipping, polyline splitting, and legend placement
//! by an occupancy grid over the plotting area.

/// Axis-aligned rectangle in drawing space.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl Bounds {
    pub fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }
}

/// Liang–Barsky clip of segment `a`–`b` to `r`.
fn clip_segment(a: (f64, f64), b: (f64, f64), r: &Bounds) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-dx, a.0 - r.x0),
        (dx, r.x1 - a.0),
        (-dy, a.1 - r.y0),
        (dy, r.y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return None;
            }
        }
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// Clips a polyline to `r`, returning the visible pieces.
pub(crate) fn clip_polyline(pts: &[(f64, f64)], r: &Bounds) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    if pts.len() == 1 && r.contains(pts[0]) {
        return vec![pts.to_vec()];
    }
    for w in pts.windows(2) {
        match clip_segment(w[0], w[1], r) {
            Some((a, b)) => {
                let continues = cur
                    .last()
                    .is_some_and(|l| (l.0 - a.0).abs() < 1e-12 && (l.1 - a.1).abs() < 1e-12);
                if !continues {
                    if cur.len() > 1 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(a);
                }
                cur.push(b);
            }
            None => {
                if cur.len() > 1 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// Splits a sequence of optional points into runs of consecutive valid points.
pub(crate) fn split_runs<T: Copy>(pts: impl IntoIterator<Item = Option<T>>) -> Vec<Vec<T>> {
    let mut out = vec![vec![]];
    for p in pts {
        match (p, out.last_mut()) {
            (Some(p), Some(run)) => run.push(p),
            (None, Some(run)) if !run.is_empty() => out.push(vec![]),
            _ => {}
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Coarse occupancy grid over the unit square (normalised plotting area,
/// y up), used to put legends where they hide the least data.
pub(crate) struct Occupancy {
    nx: usize,
    ny: usize,
    w: Vec<f32>,
}

impl Occupancy {
    pub fn new(nx: usize, ny: usize) -> Self {
        Occupancy {
            nx,
            ny,
            w: vec![0.0; nx * ny],
        }
    }

    fn cell(&self, (u, v): (f64, f64)) -> Option<usize> {
        if !(0.0..=1.0).contains(&u) || !(0.0..=1.0).contains(&v) {
            return None;
        }
        let i = ((u * self.nx as f64) as usize).min(self.nx - 1);
        let j = ((v * self.ny as f64) as usize).min(self.ny - 1);
        Some(j * self.nx + i)
    }

    pub fn mark(&mut self, p: (f64, f64), weight: f32) {
        if let Some(c) = self.cell(p) {
            self.w[c] = self.w[c].max(weight);
        }
    }

    /// Marks the cells along a segment (normalised coordinates).
    pub fn mark_segment(&mut self, a: (f64, f64), b: (f64, f64), weight: f32) {
        let len = ((b.0 - a.0) * self.nx as f64).hypot((b.1 - a.1) * self.ny as f64);
        let n = (len * 2.0).ceil().clamp(1.0, 10_000.0) as usize;
        for k in 0..=n {
            let t = k as f64 / n as f64;
            self.mark((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)), weight);
        }
    }

    /// Total weight of the cells overlapping the rectangle `[u0,u1]×[v0,v1]`.
    pub fn cost(&self, u0: f64, u1: f64, v0: f64, v1: f64) -> f64 {
        let i0 = (u0 * self.nx as f64).floor().max(0.0) as usize;
        let i1 = ((u1 * self.nx as f64).ceil() as usize).min(self.nx);
        let j0 = (v0 * self.ny as f64).floor().max(0.0) as usize;
        let j1 = ((v1 * self.ny as f64).ceil() as usize).min(self.ny);
        let mut s = 0.0;
        for j in j0..j1 {
            for i in i0..i1 {
                s += self.w[j * self.nx + i] as f64;
            }
        }
        s
    }
}

/// A box to place inside the plotting area, in normalised units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoxSpec {
    pub w: f64,
    pub h: f64,
    pub pad_x: f64,
    pub pad_y: f64,
}

/// A placed box: lower-left corner and size, normalised, y up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Placed {
    pub u0: f64,
    pub v0: f64,
    pub w: f64,
    pub h: f64,
}

impl Placed {
    fn overlaps(&self, o: &Placed) -> bool {
        self.u0 < o.u0 + o.w
            && o.u0 < self.u0 + self.w
            && self.v0 < o.v0 + o.h
            && o.v0 < self.v0 + self.h
    }
    /// Is this box in the upper half?
    #[cfg(test)]
    pub fn is_top(&self) -> bool {
        self.v0 + self.h / 2.0 > 0.5
    }
}

fn candidates(b: &BoxSpec) -> Vec<Placed> {
    let left = b.pad_x;
    let center = 0.5 - b.w / 2.0;
    let right = 1.0 - b.pad_x - b.w;
    let top = 1.0 - b.pad_y - b.h;
    let mid = 0.5 - b.h / 2.0;
    let bottom = b.pad_y;
    [
        (right, top),
        (left, top),
        (right, bottom),
        (left, bottom),
        (center, top),
        (center, bottom),
        (right, mid),
        (left, mid),
    ]
    .into_iter()
    .map(|(u0, v0)| Placed {
        u0,
        v0,
        w: b.w,
        h: b.h,
    })
    .collect()
}

/// Places boxes (legend, annotation) at candidate positions so that they do
/// not overlap each other and cover as little data as possible, earlier
/// candidates winning near-ties. Returns the placements and the total
/// covered weight.
pub(crate) fn place_boxes(occ: &Occupancy, boxes: &[BoxSpec]) -> (Vec<Placed>, f64) {
    type Best = Option<(Vec<Placed>, f64, f64)>;
    fn search(
        occ: &Occupancy,
        boxes: &[BoxSpec],
        taken: &mut Vec<Placed>,
        best: &mut Best,
        score: f64,
        cost: f64,
    ) {
        let Some((b, rest)) = boxes.split_first() else {
            if best.as_ref().is_none_or(|bst| score < bst.1) {
                *best = Some((taken.clone(), score, cost));
            }
            return;
        };
        for (k, p) in candidates(b).into_iter().enumerate() {
            if taken.iter().any(|t| t.overlaps(&p)) {
                continue;
            }
            let c = occ.cost(p.u0, p.u0 + p.w, p.v0, p.v0 + p.h);
            taken.push(p);
            search(
                occ,
                rest,
                taken,
                best,
                score + c + 0.01 * k as f64,
                cost + c,
            );
            taken.pop();
        }
    }
    let mut best = None;
    search(occ, boxes, &mut vec![], &mut best, 0.0, 0.0);
    // Boxes too big to fit side by side: put them in different corners.
    best.map_or_else(
        || {
            let placed: Vec<Placed> = boxes
                .iter()
                .enumerate()
                .map(|(i, b)| candidates(b)[(3 * i) % 8])
                .collect();
            let cost = placed
                .iter()
                .map(|p| occ.cost(p.u0, p.u0 + p.w, p.v0, p.v0 + p.h))
                .sum();
            (placed, cost)
        },
        |(p, _, c)| (p, c),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_inside_part() {
        let r = Bounds {
            x0: 0.0,
            x1: 1.0,
            y0: 0.0,
            y1: 1.0,
        };
        let pieces = clip_polyline(&[(-1.0, 0.5), (0.5, 0.5), (2.0, 0.5)], &r);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].first().unwrap().0, 0.0);
        assert_eq!(pieces[0].last().unwrap().0, 1.0);
        assert!(clip_polyline(&[(2.0, 2.0), (3.0, 3.0)], &r).is_empty());
    }

    #[test]
    fn legend_avoids_data() {
        let mut occ = Occupancy::new(40, 30);
        // data along the top edge
        occ.mark_segment((0.0, 0.95), (1.0, 0.95), 1.0);
        let spec = BoxSpec {
            w: 0.3,
            h: 0.2,
            pad_x: 0.02,
            pad_y: 0.02,
        };
        let (p, c) = place_boxes(&occ, &[spec]);
        assert_eq!(c, 0.0);
        assert!(!p[0].is_top());
    }
}
