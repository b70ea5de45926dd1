//! The bounds section's 2-point table (`spectrum::paper_pair_table`, closed-form 2x2
//! `lambda_min`) against `spectrum::paper_bounds` (the eigensolver, and the path-sum
//! bound computed there): two routes to the same numbers.

use archconv::kernel::KernelKind;
use archconv::spectrum::{paper_bounds, paper_pair_table};

#[test]
fn closed_form_pair_table_matches_the_eigensolver_and_the_bounds() {
    let cs = [-0.5, 0.0, 0.3, 0.75, 0.99];
    let table = paper_pair_table(&cs).unwrap();
    let bounds = paper_bounds(&cs, &cs).unwrap();
    for (i, (c, dags)) in table.iter().enumerate() {
        assert_eq!(*c, cs[i]);
        for (d, b) in dags.iter().zip(&bounds.dags) {
            assert_eq!(d.dag, b.name);
            // The same formula on both sides: equal to the last bit.
            assert_eq!(d.pathsum_bound, b.bound[i], "{} at c = {c}", d.dag);
            let (_, exact) = d
                .kernels
                .iter()
                .find(|k| k.0 == KernelKind::Exact)
                .map(|k| (k.0, k.1))
                .unwrap();
            // 2x2 closed form against a symmetric eigensolver: rounding of O(eps) relative
            // to the Gram's scale (diagonal entries are O(1) here).
            assert!(
                (exact - b.exact[i].1).abs() <= 1e-12,
                "{} at c = {c}: {exact} vs {}",
                d.dag,
                b.exact[i].1
            );
            // lambda_min of a PSD 2x2 Gram lies in [0, trace / 2]: normalised in [0, 1].
            for &(kind, lmin, norm) in &d.kernels {
                assert!(lmin.is_finite(), "{kind:?}");
                assert!(
                    (-1e-12..=1.0 + 1e-12).contains(&norm),
                    "{} {kind:?} at c = {c}: {norm}",
                    d.dag
                );
            }
        }
    }
    assert!(paper_pair_table(&[1.5]).is_err(), "|c| > 1 is no Gram");
}
