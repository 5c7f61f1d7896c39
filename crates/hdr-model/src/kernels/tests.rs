//! The tuned seed kernels, on every kernel path this CPU has, against the
//! generic ones; the two vector builds against each other, bit for bit.

use super::common::CHUNK;
use super::cpu::tests::{on_path, pool_on_path};
use super::cpu::KernelPath;
use super::seed::{SeedWeights, BLOCK1, BLOCK2};
use super::test_data::{assert_close, random};
use super::{conv, Block, ConvKernel};
use hdr_artifacts::{IMAGE_PIXELS, NUM_CLASSES};

/// A batch that is not a multiple of the chunk size.
const N: usize = 2 * CHUNK + 3;

/// Forward and backward of one seed block on its tuned kernels and on the
/// generic ones: the same pooled values, and the same gradients given the
/// same argmax map.
fn check_block(which: usize, input_grad: bool) {
    let (cg, pg) = [BLOCK1, BLOCK2][which];
    let x: Vec<f32> = random(N * cg.in_len(), 1).iter().map(|v| v.abs()).collect();
    let weight: Vec<f32> = random(cg.weight_len(), 2).iter().map(|v| v * 0.3).collect();
    let bias: Vec<f32> = random(cg.out_c, 3).iter().map(|v| v * 0.1).collect();
    let d_out = random(N * pg.out_len(), 4);

    let mut want = vec![0.0; N * pg.out_len()];
    let mut want_arg = vec![0u8; N * pg.out_len()];
    let reference = ConvKernel::reference(&cg, weight.clone());
    conv::block_forward(&cg, &pg, &x, &reference, &bias, &mut want, &mut want_arg);
    let mut want_dx = vec![0.0; x.len()];
    let (want_dw, want_db) = conv::block_backward(
        &cg,
        &pg,
        &x,
        N,
        &reference,
        &d_out,
        &want_arg,
        input_grad.then_some(&mut want_dx[..]),
    );

    let block = Block::new(cg, pg, weight.clone(), bias.clone(), input_grad);
    assert!(!matches!(block.kernels, super::Kernels::Generic { .. }));
    let mut got = vec![0.0; N * pg.out_len()];
    let mut got_arg = vec![0u8; N * pg.out_len()];
    block.forward(&x, &mut got, &mut got_arg);
    assert_close(&format!("block {} values", which + 1), &got, &want, 1e-5);
    let mut dx = vec![0.0; x.len()];
    let (dw, db) = block.backward(&x, &d_out, &want_arg, input_grad.then_some(&mut dx[..]));
    assert_close(&format!("block {} dW", which + 1), &dw, &want_dw, 1e-5);
    assert_close(&format!("block {} dB", which + 1), &db, &want_db, 1e-5);
    if input_grad {
        assert_close(&format!("block {} dx", which + 1), &dx, &want_dx, 1e-5);
    }
}

fn check_blocks() {
    check_block(0, false);
    check_block(0, true);
    check_block(1, false);
    check_block(1, true);
}

#[test]
fn tuned_blocks_match_the_generic_kernels_on_every_path() {
    for path in KernelPath::available() {
        on_path(path, check_blocks);
    }
}

/// The fused seed inference against the generic blocks and a plain dense layer.
fn check_inference() {
    let (c1, p1) = BLOCK1;
    let (c2, p2) = BLOCK2;
    let params: [Vec<f32>; 6] = [
        random(c1.weight_len(), 5).iter().map(|v| v * 0.5).collect(),
        random(c1.out_c, 6).iter().map(|v| v * 0.1).collect(),
        random(c2.weight_len(), 7).iter().map(|v| v * 0.1).collect(),
        random(c2.out_c, 8).iter().map(|v| v * 0.1).collect(),
        random(p2.out_len() * NUM_CLASSES, 9),
        random(NUM_CLASSES, 10),
    ];
    let images: Vec<f32> = random(N * IMAGE_PIXELS, 11)
        .iter()
        .map(|v| (v + 1.0) / 2.0)
        .collect();
    let got = SeedWeights::new(params.clone()).logits(N, |i, dst| {
        dst.copy_from_slice(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS])
    });
    let mut a1 = vec![0.0; N * p1.out_len()];
    let mut arg1 = vec![0u8; a1.len()];
    let reference1 = ConvKernel::reference(&c1, params[0].clone());
    conv::block_forward(
        &c1,
        &p1,
        &images,
        &reference1,
        &params[1],
        &mut a1,
        &mut arg1,
    );
    let mut a2 = vec![0.0; N * p2.out_len()];
    let mut arg2 = vec![0u8; a2.len()];
    let reference2 = ConvKernel::reference(&c2, params[2].clone());
    conv::block_forward(&c2, &p2, &a1, &reference2, &params[3], &mut a2, &mut arg2);
    let features = p2.out_len();
    let mut want = vec![0.0; N * NUM_CLASSES];
    for (i, row) in want.chunks_exact_mut(NUM_CLASSES).enumerate() {
        for (j, l) in row.iter_mut().enumerate() {
            let w = &params[4][j * features..(j + 1) * features];
            let f = &a2[i * features..(i + 1) * features];
            *l = params[5][j] + w.iter().zip(f).map(|(a, b)| a * b).sum::<f32>();
        }
    }
    assert_close("inference logits", &got, &want, 1e-5);
}

#[test]
fn seed_inference_matches_the_generic_kernels_on_every_path() {
    for path in KernelPath::available() {
        on_path(path, check_inference);
    }
}

/// Every output of both seed blocks (forward, and backward with the input
/// gradient) and of the fused inference, as bits.
fn seed_outputs() -> Vec<Vec<u32>> {
    let mut outputs = Vec::new();
    for (which, (cg, pg)) in [BLOCK1, BLOCK2].into_iter().enumerate() {
        let seed = 20 + 10 * which as u64;
        let x: Vec<f32> = random(N * cg.in_len(), seed)
            .iter()
            .map(|v| v.abs())
            .collect();
        let block = Block::new(
            cg,
            pg,
            random(cg.weight_len(), seed + 1)
                .iter()
                .map(|v| v * 0.3)
                .collect(),
            random(cg.out_c, seed + 2).iter().map(|v| v * 0.1).collect(),
            which == 1,
        );
        let mut out = vec![0.0; N * pg.out_len()];
        let mut arg = vec![0u8; out.len()];
        block.forward(&x, &mut out, &mut arg);
        let d_out = random(out.len(), seed + 3);
        let mut dx = vec![0.0; x.len()];
        let (dw, db) = block.backward(&x, &d_out, &arg, (which == 1).then_some(&mut dx[..]));
        outputs.extend([out, dw, db, dx].map(|v| v.iter().map(|f| f.to_bits()).collect()));
        outputs.push(arg.into_iter().map(u32::from).collect());
    }
    let (c1, _) = BLOCK1;
    let (c2, p2) = BLOCK2;
    let params = [
        random(c1.weight_len(), 40),
        random(c1.out_c, 41),
        random(c2.weight_len(), 42)
            .iter()
            .map(|v| v * 0.1)
            .collect(),
        random(c2.out_c, 43),
        random(p2.out_len() * NUM_CLASSES, 44),
        random(NUM_CLASSES, 45),
    ];
    let images = random(N * IMAGE_PIXELS, 46);
    let logits = SeedWeights::new(params).logits(N, |i, dst| {
        dst.copy_from_slice(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS])
    });
    outputs.push(logits.iter().map(|f| f.to_bits()).collect());
    outputs
}

#[test]
fn the_vector_builds_give_the_same_bits() {
    let vector: Vec<KernelPath> = KernelPath::available()
        .into_iter()
        .filter(|p| *p != KernelPath::Portable)
        .collect();
    let Some((first, others)) = vector.split_first() else {
        eprintln!("skipped: this CPU has no vector kernel path");
        return;
    };
    let want = on_path(*first, seed_outputs);
    for path in others {
        assert!(
            on_path(*path, seed_outputs) == want,
            "{path} differs from {first}"
        );
    }
    // ...and the portable build computes the same to rounding, not bit for bit.
    assert!(on_path(KernelPath::Portable, seed_outputs) != want);
}

#[test]
fn tuned_results_do_not_depend_on_the_thread_count() {
    let (cg, pg) = BLOCK2;
    let x: Vec<f32> = random(N * cg.in_len(), 12)
        .iter()
        .map(|v| v.abs())
        .collect();
    let block = Block::new(
        cg,
        pg,
        random(cg.weight_len(), 13),
        random(cg.out_c, 14),
        true,
    );
    let d_out = random(N * pg.out_len(), 15);
    let run = |path: KernelPath, threads: usize| {
        pool_on_path(path, threads).install(|| {
            let mut out = vec![0.0; N * pg.out_len()];
            let mut arg = vec![0u8; out.len()];
            block.forward(&x, &mut out, &mut arg);
            let mut dx = vec![0.0; x.len()];
            let (dw, db) = block.backward(&x, &d_out, &arg, Some(&mut dx));
            [out, dw, db, dx].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
        })
    };
    for path in KernelPath::available() {
        let one = run(path, 1);
        assert_eq!(one, run(path, 2), "{path}");
        assert_eq!(one, run(path, 3), "{path}");
    }
}
