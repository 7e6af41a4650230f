//! Small dense linear algebra, generic over [`Real`].
//!
//! Written by hand because the MPFR path needs them: nalgebra's scalars
//! (simba's `RealField`) need only `Clone`, but its constructors are
//! context-free (`zero()`, `one()`, `from_f64` take no precision), while an
//! MPFR number's precision is chosen at run time (`R::Ctx`). One generic
//! implementation then serves f64 too, so both scalar types take the same
//! arithmetic path. They work in place on caller-owned buffers: no temporaries inside
//! loops. Naming follows nalgebra: `solve` returns a new vector, `solve_mut`
//! overwrites its argument.

use crate::scalar::Real;

/// Errors of the dense solvers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LinalgError {
    /// Shapes do not fit together.
    #[error("dimension mismatch in {op}: {detail}")]
    Dimension { op: &'static str, detail: String },
    /// A pivot was zero (or not positive for Cholesky) at this index.
    #[error("matrix is singular (or not positive definite) at pivot {pivot} in {op}")]
    Singular { op: &'static str, pivot: usize },
}

/// Row-major dense matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat<R> {
    rows: usize,
    cols: usize,
    data: Vec<R>,
}

impl<R: Real> Mat<R> {
    /// The order n of a square matrix, or the dimension error of `op`.
    fn square_dim(&self, op: &'static str) -> Result<usize, LinalgError> {
        if self.cols == self.rows {
            Ok(self.rows)
        } else {
            Err(LinalgError::Dimension {
                op,
                detail: format!("matrix is {}x{}, not square", self.rows, self.cols),
            })
        }
    }
    /// Zero matrix.
    pub fn zeros(rows: usize, cols: usize, ctx: R::Ctx) -> Self {
        Self {
            rows,
            cols,
            data: vec![R::zero(ctx); rows * cols],
        }
    }
    /// Identity matrix.
    pub fn identity(n: usize, ctx: R::Ctx) -> Self {
        let mut m = Self::zeros(n, n, ctx);
        for i in 0..n {
            m[(i, i)].set_f64(1.0);
        }
        m
    }
    /// From row-major data; panics if the length is not rows·cols.
    pub fn from_row_major(rows: usize, cols: usize, data: Vec<R>) -> Self {
        assert_eq!(data.len(), rows * cols, "Mat::from_row_major: wrong length");
        Self { rows, cols, data }
    }
    /// Exact conversion of row-major f64 data.
    pub fn from_f64(rows: usize, cols: usize, data: &[f64], ctx: R::Ctx) -> Self {
        assert_eq!(data.len(), rows * cols, "Mat::from_f64: wrong length");
        Self {
            rows,
            cols,
            data: data.iter().map(|&x| R::from_f64(x, ctx)).collect(),
        }
    }
    /// Round to an f64 matrix (row-major).
    pub fn to_f64(&self) -> Mat<f64> {
        Mat {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(Real::to_f64).collect(),
        }
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Row `i` as a slice.
    #[inline]
    pub fn row(&self, i: usize) -> &[R] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Row `i` as a mutable slice.
    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [R] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Row-major storage.
    pub fn as_slice(&self) -> &[R] {
        &self.data
    }
    /// Mutable row-major storage.
    pub fn as_mut_slice(&mut self) -> &mut [R] {
        &mut self.data
    }
    /// Context of the entries (panics on an empty matrix).
    pub fn ctx(&self) -> R::Ctx {
        self.data[0].ctx()
    }
    /// The matrix with every entry held by [`Real::exact_narrow`], if every
    /// entry has such a copy (MPFR data converted from f64): for loops that
    /// only multiply by the entries into values of the working precision.
    /// Its entries do not carry the working precision: never take `ctx()`
    /// of it, clone its entries into accumulators, or factor it.
    pub fn exact_narrow(&self) -> Option<Self> {
        let data = self
            .data
            .iter()
            .map(Real::exact_narrow)
            .collect::<Option<Vec<R>>>()?;
        Some(Self { data, ..*self })
    }
    /// Transpose as a new matrix.
    pub fn transpose(&self) -> Self {
        let mut data = Vec::with_capacity(self.data.len());
        for j in 0..self.cols {
            for i in 0..self.rows {
                data.push(self[(i, j)].clone());
            }
        }
        Self {
            rows: self.cols,
            cols: self.rows,
            data,
        }
    }
    /// `out = self · x`.
    pub fn mul_vec_into(&self, x: &[R], out: &mut [R]) {
        assert_eq!(x.len(), self.cols);
        assert_eq!(out.len(), self.rows);
        for (i, o) in out.iter_mut().enumerate() {
            dot_into(o, self.row(i), x);
        }
    }
    /// `out = selfᵀ · x`.
    pub fn tr_mul_vec_into(&self, x: &[R], out: &mut [R]) {
        assert_eq!(x.len(), self.rows);
        assert_eq!(out.len(), self.cols);
        for o in out.iter_mut() {
            o.set_f64(0.0);
        }
        for (i, xi) in x.iter().enumerate() {
            axpy(out, xi, self.row(i));
        }
    }
    /// `self · x` as a new vector.
    pub fn mul_vec(&self, x: &[R]) -> Vec<R> {
        let mut out = vec![x[0].clone(); self.rows];
        self.mul_vec_into(x, &mut out);
        out
    }
    /// `selfᵀ · x` as a new vector.
    pub fn tr_mul_vec(&self, x: &[R]) -> Vec<R> {
        let mut out = vec![x[0].clone(); self.cols];
        self.tr_mul_vec_into(x, &mut out);
        out
    }
    /// `out = self · other`.
    pub fn mul_into(&self, other: &Self, out: &mut Self) {
        assert_eq!(self.cols, other.rows);
        assert_eq!((out.rows, out.cols), (self.rows, other.cols));
        for v in out.data.iter_mut() {
            v.set_f64(0.0);
        }
        for i in 0..self.rows {
            for k in 0..self.cols {
                let a = &self.data[i * self.cols + k];
                if a.is_zero() {
                    continue;
                }
                let out_row = &mut out.data[i * other.cols..(i + 1) * other.cols];
                axpy(out_row, a, other.row(k));
            }
        }
    }
    /// `self · other` as a new matrix.
    pub fn mul(&self, other: &Self) -> Self {
        let mut out = Self::zeros(self.rows, other.cols, self.ctx());
        self.mul_into(other, &mut out);
        out
    }
    /// `self · selfᵀ` (rows × rows), symmetric.
    pub fn gram_rows(&self) -> Self {
        let ctx = self.ctx();
        let mut g = Self::zeros(self.rows, self.rows, ctx);
        for i in 0..self.rows {
            for j in 0..=i {
                let mut v = R::zero(ctx);
                dot_into(&mut v, self.row(i), self.row(j));
                g[(j, i)].assign(&v);
                g[(i, j)] = v;
            }
        }
        g
    }
    /// Frobenius norm, in f64.
    pub fn frobenius_f64(&self) -> f64 {
        self.data
            .iter()
            .map(|v| {
                let x = v.to_f64();
                x * x
            })
            .sum::<f64>()
            .sqrt()
    }
    /// `self += alpha · other`.
    pub fn add_scaled(&mut self, alpha: &R, other: &Self) {
        assert_eq!((self.rows, self.cols), (other.rows, other.cols));
        axpy(&mut self.data, alpha, &other.data);
    }
    /// Multiply every entry by `alpha`.
    pub fn scale_mut(&mut self, alpha: &R) {
        for v in self.data.iter_mut() {
            *v *= alpha;
        }
    }
}

impl<R> std::ops::Index<(usize, usize)> for Mat<R> {
    type Output = R;
    #[inline]
    fn index(&self, (i, j): (usize, usize)) -> &R {
        &self.data[i * self.cols + j]
    }
}

impl<R> std::ops::IndexMut<(usize, usize)> for Mat<R> {
    #[inline]
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut R {
        &mut self.data[i * self.cols + j]
    }
}

/// `out = Σ a_i b_i`.
#[inline]
pub fn dot_into<R: Real>(out: &mut R, a: &[R], b: &[R]) {
    debug_assert_eq!(a.len(), b.len());
    R::dot_into(out, a, b);
}

/// `Σ a_i b_i` as a new value (`a` must be non-empty).
pub fn dot<R: Real>(a: &[R], b: &[R]) -> R {
    let mut out = a[0].clone();
    dot_into(&mut out, a, b);
    out
}

/// `y += alpha · x`.
#[inline]
pub fn axpy<R: Real>(y: &mut [R], alpha: &R, x: &[R]) {
    debug_assert_eq!(y.len(), x.len());
    R::axpy_into(y, alpha, x);
}

/// `‖a‖²`.
pub fn norm_sq<R: Real>(a: &[R]) -> R {
    dot(a, a)
}

/// `‖a‖`.
pub fn norm<R: Real>(a: &[R]) -> R {
    let mut n = norm_sq(a);
    n.sqrt_mut();
    n
}

/// `‖a − b‖` (computed in the scalar type).
pub fn distance<R: Real>(a: &[R], b: &[R]) -> R {
    assert_eq!(a.len(), b.len());
    let mut acc = R::zero(a[0].ctx());
    let mut diff = acc.clone();
    for (x, y) in a.iter().zip(b) {
        diff.assign(x);
        diff -= y;
        acc.add_mul(&diff, &diff);
    }
    acc.sqrt_mut();
    acc
}

/// `‖a‖₁`.
pub fn norm_l1<R: Real>(a: &[R]) -> R {
    let mut acc = R::zero(a[0].ctx());
    for x in a {
        if x.is_negative() {
            acc -= x;
        } else {
            acc += x;
        }
    }
    acc
}

/// LU factorization with partial pivoting, in place (Doolittle, `L` unit lower).
#[derive(Debug, Clone)]
pub struct Lu<R> {
    lu: Mat<R>,
    perm: Vec<usize>,
}

impl<R: Real> Lu<R> {
    /// Factor a square matrix (consumes it: the factors overwrite it).
    pub fn new(mut a: Mat<R>) -> Result<Self, LinalgError> {
        let n = a.square_dim("Lu::new")?;
        let mut perm: Vec<usize> = (0..n).collect();
        let mut factor = R::zero(a.ctx());
        for k in 0..n {
            // Partial pivoting on |a_ik| compared in f64 is enough to choose a row.
            let (p, pmax) = (k..n)
                .map(|i| (i, a[(i, k)].to_f64().abs()))
                .fold((k, -1.0), |b, c| if c.1 > b.1 { c } else { b });
            if pmax == 0.0 || !a[(p, k)].is_finite() {
                return Err(LinalgError::Singular {
                    op: "Lu::new",
                    pivot: k,
                });
            }
            if p != k {
                for j in 0..n {
                    a.data.swap(k * n + j, p * n + j);
                }
                perm.swap(k, p);
            }
            for i in k + 1..n {
                factor.assign(&a[(i, k)]);
                factor /= &a[(k, k)];
                a[(i, k)].assign(&factor);
                let (upper, lower) = a.data.split_at_mut(i * n);
                let row_k = &upper[k * n + k + 1..k * n + n];
                let row_i = &mut lower[k + 1..n];
                for (x, y) in row_i.iter_mut().zip(row_k) {
                    x.sub_mul(&factor, y);
                }
            }
        }
        Ok(Self { lu: a, perm })
    }

    /// Solve `A x = b` in place (`b` becomes `x`).
    pub fn solve_mut(&self, b: &mut [R]) {
        let n = self.lu.rows;
        assert_eq!(b.len(), n, "Lu::solve_mut: wrong right-hand side length");
        let permuted: Vec<R> = self.perm.iter().map(|&p| b[p].clone()).collect();
        b.clone_from_slice(&permuted);
        for i in 0..n {
            let (head, tail) = b.split_at_mut(i);
            for (j, bj) in head.iter().enumerate() {
                tail[0].sub_mul(&self.lu[(i, j)], bj);
            }
        }
        for i in (0..n).rev() {
            let (head, tail) = b.split_at_mut(i + 1);
            for (k, bj) in tail.iter().enumerate() {
                head[i].sub_mul(&self.lu[(i, i + 1 + k)], bj);
            }
            head[i] /= &self.lu[(i, i)];
        }
    }

    /// Solve `A x = b`, returning `x`.
    pub fn solve(&self, b: &[R]) -> Vec<R> {
        let mut x = b.to_vec();
        self.solve_mut(&mut x);
        x
    }

    /// Inverse matrix (column by column).
    pub fn inverse(&self) -> Mat<R> {
        let n = self.lu.rows;
        let ctx = self.lu.ctx();
        let mut inv = Mat::<R>::zeros(n, n, ctx);
        let mut col = vec![R::zero(ctx); n];
        for j in 0..n {
            for (i, c) in col.iter_mut().enumerate() {
                c.set_f64(if i == j { 1.0 } else { 0.0 });
            }
            self.solve_mut(&mut col);
            for (i, c) in col.iter().enumerate() {
                inv[(i, j)].assign(c);
            }
        }
        inv
    }
}

/// Cholesky factorization `A = L Lᵀ` of a symmetric positive-definite matrix.
#[derive(Debug, Clone)]
pub struct Cholesky<R> {
    l: Mat<R>,
}

impl<R: Real> Cholesky<R> {
    /// Factor (only the lower triangle of `a` is read).
    pub fn new(mut a: Mat<R>) -> Result<Self, LinalgError> {
        let n = a.square_dim("Cholesky::new")?;
        for j in 0..n {
            {
                let row_j = &mut a.data[j * n..(j + 1) * n];
                let (left, diag) = row_j.split_at_mut(j);
                for l in left.iter() {
                    diag[0].sub_mul(l, l);
                }
            }
            if a[(j, j)].is_negative() || a[(j, j)].is_zero() || !a[(j, j)].is_finite() {
                return Err(LinalgError::Singular {
                    op: "Cholesky::new",
                    pivot: j,
                });
            }
            a[(j, j)].sqrt_mut();
            for i in j + 1..n {
                let (upper, lower) = a.data.split_at_mut(i * n);
                let row_j = &upper[j * n..j * n + j + 1];
                let (li, lij) = lower[..=j].split_at_mut(j);
                for (x, y) in li.iter().zip(&row_j[..j]) {
                    lij[0].sub_mul(x, y);
                }
                lij[0] /= &row_j[j];
            }
            for i in 0..j {
                a[(i, j)].set_f64(0.0);
            }
        }
        Ok(Self { l: a })
    }

    /// Lower-triangular factor.
    pub fn l(&self) -> &Mat<R> {
        &self.l
    }

    /// Solve `A x = b` in place.
    pub fn solve_mut(&self, b: &mut [R]) {
        let n = self.l.rows;
        assert_eq!(
            b.len(),
            n,
            "Cholesky::solve_mut: wrong right-hand side length"
        );
        for i in 0..n {
            let (head, tail) = b.split_at_mut(i);
            for (j, bj) in head.iter().enumerate() {
                tail[0].sub_mul(&self.l[(i, j)], bj);
            }
            tail[0] /= &self.l[(i, i)];
        }
        for i in (0..n).rev() {
            let (head, tail) = b.split_at_mut(i + 1);
            for (k, bj) in tail.iter().enumerate() {
                head[i].sub_mul(&self.l[(i + 1 + k, i)], bj);
            }
            head[i] /= &self.l[(i, i)];
        }
    }

    /// Solve `A x = b`, returning `x`.
    pub fn solve(&self, b: &[R]) -> Vec<R> {
        let mut x = b.to_vec();
        self.solve_mut(&mut x);
        x
    }
}

/// Minimum-norm solution of an underdetermined full-row-rank system `A x = b`:
/// `x = Aᵀ (A Aᵀ)⁻¹ b`, i.e. `A⁺ b`.
pub fn min_norm_solve<R: Real>(a: &Mat<R>, b: &[R]) -> Result<Vec<R>, LinalgError> {
    if b.len() != a.rows() {
        return Err(LinalgError::Dimension {
            op: "min_norm_solve",
            detail: format!("b has length {} but A has {} rows", b.len(), a.rows()),
        });
    }
    let chol = Cholesky::new(a.gram_rows())?;
    let z = chol.solve(b);
    Ok(a.tr_mul_vec(&z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lu_and_cholesky_solve_small_systems() {
        let a = Mat::<f64>::from_row_major(3, 3, vec![4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0]);
        let b = vec![1.0, 2.0, 3.0];
        let x_lu = Lu::new(a.clone()).unwrap().solve(&b);
        let x_ch = Cholesky::new(a.clone()).unwrap().solve(&b);
        let r = a.mul_vec(&x_lu);
        for i in 0..3 {
            assert!((r[i] - b[i]).abs() < 1e-14);
            assert!((x_lu[i] - x_ch[i]).abs() < 1e-14);
        }
    }

    #[test]
    fn lu_pivots_and_detects_singularity() {
        let a = Mat::<f64>::from_row_major(2, 2, vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(Lu::new(a).unwrap().solve(&[2.0, 3.0]), vec![3.0, 2.0]);
        let s = Mat::<f64>::from_row_major(2, 2, vec![1.0, 2.0, 2.0, 4.0]);
        assert!(matches!(Lu::new(s), Err(LinalgError::Singular { .. })));
    }
}
