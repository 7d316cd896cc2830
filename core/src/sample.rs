//! Choosing the next token from the logits: greedy, or llama.cpp's sampler chain
//! (repetition penalty, top-k, top-p, min-p, temperature, then a seeded draw).
//!
//! The sampler owns no memory: the candidate list lives in a scratch slice the caller
//! carves once (one [`Candidate`] per vocabulary entry). The random generator is a
//! 64-bit PCG with a fixed algorithm, so one seed gives one output on every machine.
#![forbid(unsafe_code)]

/// Sampling settings; the defaults are llama.cpp's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// 0 or less: greedy (argmax, lowest id on ties).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p; 1.0 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one; 0 keeps all.
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recent tokens; 1.0 is off.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0x5eed,
        }
    }
}

/// A token and its (transformed) logit, later its probability.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub logit: f32,
    pub p: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleError {
    /// A logit is NaN or infinite: the model produced garbage; the token it names.
    NonFiniteLogit { token: u32 },
    /// The scratch slice is shorter than the vocabulary.
    ScratchTooSmall { needed: usize, got: usize },
    /// There are no logits.
    EmptyVocabulary,
}

impl core::fmt::Display for SampleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SampleError::NonFiniteLogit { token } => {
                write!(f, "the model produced a NaN or infinite logit (token {token}); refusing to sample")
            }
            SampleError::ScratchTooSmall { needed, got } => {
                write!(f, "sampler scratch holds {got} candidates, the vocabulary needs {needed}")
            }
            SampleError::EmptyVocabulary => write!(f, "no logits to sample from"),
        }
    }
}

/// PCG-XSH-RR 64/32: small, fast on a 32-bit core, reproducible.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    const MUL: u64 = 6364136223846793005;
    const INC: u64 = 1442695040888963407;

    pub fn new(seed: u64) -> Rng {
        let mut r = Rng { state: 0 };
        r.next_u32();
        r.state = r.state.wrapping_add(seed);
        r.next_u32();
        r
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(Self::MUL).wrapping_add(Self::INC);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }

    /// Uniform in [0, 1) with 24 bits of precision (exact in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }
}

/// The sampler: settings plus the random state.
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplerConfig,
    rng: Rng,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Sampler {
        Sampler { config, rng: Rng::new(config.seed) }
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Picks the next token. `recent` is the token history (the penalty looks at its last
    /// `repeat_last_n`); `scratch` must hold at least `logits.len()` candidates.
    ///
    /// Errors: [`SampleError::NonFiniteLogit`] when a logit is NaN/infinite (checked before
    /// anything else), [`SampleError::ScratchTooSmall`], [`SampleError::EmptyVocabulary`].
    pub fn sample(
        &mut self,
        logits: &[f32],
        recent: &[u32],
        scratch: &mut [Candidate],
    ) -> Result<u32, SampleError> {
        let scratch = checked_scratch(logits, scratch)?;
        let penalised = self.penalised();
        if self.config.temperature <= 0.0 && !penalised {
            return Ok(argmax_logits(logits));
        }
        let k = if self.config.top_k == 0 { logits.len() } else { self.config.top_k.min(logits.len()) };
        // Sorted by logit, highest first: every later filter keeps a prefix.
        let cands = if penalised || k == logits.len() {
            self.all_candidates(logits, recent, scratch);
            if self.config.temperature <= 0.0 {
                return Ok(argmax(scratch));
            }
            if k < scratch.len() {
                scratch.select_nth_unstable_by(k - 1, by_logit_desc);
            }
            let cands = &mut scratch[..k];
            cands.sort_unstable_by(by_logit_desc);
            cands
        } else {
            // One pass over the vocabulary keeping the best k in order: the same set and
            // order as sorting every candidate (ties by lower id), without touching 32k
            // candidates per token on a 16 KB cache.
            top_k_sorted(logits, &mut scratch[..k])
        };
        Ok(self.pick(cands))
    }

    /// [`Sampler::sample`] over only the tokens `allowed` accepts: the same choice as
    /// setting every other logit to minus infinity first, as llama.cpp's grammar sampler
    /// does. `None` when no token is allowed.
    ///
    /// `allowed` is asked lazily where that gives the same answer: when top-k keeps k
    /// tokens, the best logits are tried in order until k are allowed, so a greedy choice
    /// usually checks a handful of tokens, not the vocabulary.
    pub fn sample_filtered<E: From<SampleError>>(
        &mut self,
        logits: &[f32],
        recent: &[u32],
        scratch: &mut [Candidate],
        allowed: &mut dyn FnMut(u32) -> Result<bool, E>,
    ) -> Result<Option<u32>, E> {
        let scratch = checked_scratch(logits, scratch)?;
        let penalised = self.penalised();
        let greedy = self.config.temperature <= 0.0;
        let n = logits.len();
        let k = match self.config.top_k {
            _ if greedy => 1,
            0 => n,
            k => k.min(n),
        };
        if !penalised && k < n {
            // The best few by logit, in order; keep the allowed ones until there are k.
            let tried = (4 * k).max(64).min(n);
            let best = top_k_sorted(logits, &mut scratch[..tried]);
            let mut kept = 0;
            for i in 0..best.len() {
                if allowed(best[i].id)? {
                    best[kept] = best[i];
                    kept += 1;
                    if kept == k {
                        break;
                    }
                }
            }
            if kept == k || tried == n {
                return Ok(if kept == 0 { None } else { Some(self.finish(&mut best[..kept])) });
            }
        }
        // Every token: the penalty first, as in `sample`, then the mask.
        self.all_candidates(logits, recent, scratch);
        let mut n_allowed = 0;
        for c in scratch.iter_mut() {
            if allowed(c.id)? {
                n_allowed += 1;
            } else {
                c.logit = f32::NEG_INFINITY;
            }
        }
        if n_allowed == 0 {
            return Ok(None);
        }
        let k = k.min(n_allowed);
        if k < scratch.len() {
            scratch.select_nth_unstable_by(k - 1, by_logit_desc);
        }
        let cands = &mut scratch[..k];
        cands.sort_unstable_by(by_logit_desc);
        Ok(Some(self.finish(cands)))
    }

    /// The end of the chain on candidates sorted best first: greedy takes the first;
    /// otherwise top-p, min-p, temperature and the seeded draw.
    fn finish(&mut self, cands: &mut [Candidate]) -> u32 {
        if self.config.temperature <= 0.0 {
            return cands.first().map_or(0, |c| c.id);
        }
        self.pick(cands)
    }

    /// Top-p, min-p, temperature and the draw, on candidates sorted best first.
    fn pick(&mut self, cands: &mut [Candidate]) -> u32 {
        softmax(cands);
        let mut n = keep_top_p(cands, self.config.top_p);
        n = keep_min_p(&cands[..n], self.config.min_p);
        let cands = &mut cands[..n];
        let t = self.config.temperature;
        for c in cands.iter_mut() {
            c.logit /= t;
        }
        softmax(cands);
        let r = self.rng.next_f32();
        let mut acc = 0.0f32;
        for c in cands.iter() {
            acc += c.p;
            if r < acc {
                return c.id;
            }
        }
        // Rounding left the sum just under r: the last candidate takes the remainder.
        cands.last().map_or(0, |c| c.id)
    }

    fn penalised(&self) -> bool {
        self.config.repeat_penalty != 1.0 && self.config.repeat_last_n > 0
    }

    /// Every token as a candidate, in id order, with the repeat penalty applied.
    fn all_candidates(&self, logits: &[f32], recent: &[u32], scratch: &mut [Candidate]) {
        for (i, (c, &l)) in scratch.iter_mut().zip(logits).enumerate() {
            *c = Candidate { id: i as u32, logit: l, p: 0.0 };
        }
        self.apply_repeat_penalty(scratch, recent);
    }

    fn apply_repeat_penalty(&self, cands: &mut [Candidate], recent: &[u32]) {
        let penalty = self.config.repeat_penalty;
        if penalty == 1.0 || self.config.repeat_last_n == 0 {
            return;
        }
        let window = &recent[recent.len().saturating_sub(self.config.repeat_last_n)..];
        for (i, &tok) in window.iter().enumerate() {
            // Each distinct token is penalised once, however often it occurs.
            if window[..i].contains(&tok) {
                continue;
            }
            if let Some(c) = cands.get_mut(tok as usize) {
                c.logit = if c.logit > 0.0 { c.logit / penalty } else { c.logit * penalty };
            }
        }
    }
}

/// The part of `scratch` that holds one candidate per logit, once the logits are known to
/// be usable (not empty, all finite).
fn checked_scratch<'s>(logits: &[f32], scratch: &'s mut [Candidate]) -> Result<&'s mut [Candidate], SampleError> {
    if logits.is_empty() {
        return Err(SampleError::EmptyVocabulary);
    }
    if let Some(bad) = logits.iter().position(|l| !l.is_finite()) {
        return Err(SampleError::NonFiniteLogit { token: bad as u32 });
    }
    let too_small = SampleError::ScratchTooSmall { needed: logits.len(), got: scratch.len() };
    scratch.get_mut(..logits.len()).ok_or(too_small)
}

/// The highest logit, lowest id on ties.
pub fn argmax(cands: &[Candidate]) -> u32 {
    let mut best = Candidate { id: 0, logit: f32::NEG_INFINITY, p: 0.0 };
    for c in cands {
        if c.logit > best.logit {
            best = *c;
        }
    }
    best.id
}

/// The index of the highest value, lowest index on ties (greedy decoding on raw logits).
pub fn argmax_logits(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The `best.len()` highest logits, highest first (lower id first on equal logits).
fn top_k_sorted<'c>(logits: &[f32], best: &'c mut [Candidate]) -> &'c mut [Candidate] {
    let k = best.len();
    let mut n = 0usize;
    for (i, &l) in logits.iter().enumerate() {
        // Ids come in increasing order, so an equal logit ranks below the ones kept.
        if n == k && best.last().is_some_and(|last| l <= last.logit) {
            continue;
        }
        let at = best[..n].partition_point(|c| c.logit >= l);
        if n < k {
            n += 1;
        }
        best.copy_within(at..n - 1, at + 1);
        if let Some(slot) = best.get_mut(at) {
            *slot = Candidate { id: i as u32, logit: l, p: 0.0 };
        }
    }
    &mut best[..n]
}

fn by_logit_desc(a: &Candidate, b: &Candidate) -> core::cmp::Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Probabilities of candidates sorted highest first.
fn softmax(cands: &mut [Candidate]) {
    let Some(max) = cands.first().map(|c| c.logit) else { return };
    let mut sum = 0.0f32;
    for c in cands.iter_mut() {
        c.p = crate::math::expf(c.logit - max);
        sum += c.p;
    }
    for c in cands.iter_mut() {
        c.p /= sum;
    }
}

/// How many candidates (sorted, with probabilities) top-p keeps: the shortest prefix whose
/// probability reaches p, at least one.
fn keep_top_p(cands: &[Candidate], p: f32) -> usize {
    if p >= 1.0 {
        return cands.len();
    }
    let mut acc = 0.0f32;
    for (i, c) in cands.iter().enumerate() {
        acc += c.p;
        if acc >= p {
            return i + 1;
        }
    }
    cands.len()
}

/// How many candidates min-p keeps: those at least min_p times as likely as the first.
fn keep_min_p(cands: &[Candidate], min_p: f32) -> usize {
    let Some(first) = cands.first() else { return 0 };
    if min_p <= 0.0 {
        return cands.len();
    }
    let threshold = first.p * min_p;
    cands.iter().take_while(|c| c.p >= threshold).count().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: SamplerConfig, logits: &[f32], draws: usize) -> [u32; 64] {
        let mut s = Sampler::new(cfg);
        let mut scratch = [Candidate::default(); 16];
        let mut out = [0u32; 64];
        for o in out.iter_mut().take(draws) {
            *o = s.sample(logits, &[], &mut scratch).unwrap();
        }
        out
    }

    #[test]
    fn greedy_takes_the_lowest_id_among_equal_maxima() {
        let cfg = SamplerConfig { temperature: 0.0, ..Default::default() };
        assert_eq!(run(cfg, &[1.0, 3.0, 3.0, -2.0], 1)[0], 1);
    }

    #[test]
    fn same_seed_same_tokens_other_seed_other_tokens() {
        let logits = [0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2];
        let cfg = SamplerConfig { top_k: 0, top_p: 1.0, min_p: 0.0, temperature: 1.0, seed: 7, ..Default::default() };
        assert_eq!(run(cfg, &logits, 64), run(cfg, &logits, 64));
        assert_ne!(run(cfg, &logits, 64), run(SamplerConfig { seed: 8, ..cfg }, &logits, 64));
    }

    #[test]
    fn top_k_one_is_greedy_and_filters_restrict_the_choice() {
        let logits = [0.0, 5.0, 4.9, 1.0, 0.5];
        let cfg = SamplerConfig { top_k: 1, temperature: 1.0, ..Default::default() };
        assert!(run(cfg, &logits, 64).iter().all(|&t| t == 1));
        let cfg = SamplerConfig { top_k: 2, top_p: 1.0, min_p: 0.0, temperature: 1.0, ..Default::default() };
        let picks = run(cfg, &logits, 64);
        assert!(picks.iter().all(|&t| t == 1 || t == 2));
        assert!(picks.contains(&1) && picks.contains(&2));
        // min_p 0.5: token 2 (p ratio e^-0.1) stays, token 3 (e^-4) goes.
        let cfg = SamplerConfig { top_k: 0, top_p: 1.0, min_p: 0.5, temperature: 1.0, ..Default::default() };
        assert!(run(cfg, &logits, 64).iter().all(|&t| t == 1 || t == 2));
    }

    #[test]
    fn the_top_k_pass_equals_sorting_every_candidate() {
        let mut rng = Rng::new(3);
        for round in 0..200 {
            // Few distinct values, so ties are common.
            let logits: [f32; 16] = core::array::from_fn(|_| (rng.next_u32() % 6) as f32 - 2.0);
            let k = 1 + round % 16;
            let mut all: [Candidate; 16] =
                core::array::from_fn(|i| Candidate { id: i as u32, logit: logits[i], p: 0.0 });
            all.sort_unstable_by(by_logit_desc);
            let mut best = [Candidate::default(); 16];
            let got = top_k_sorted(&logits, &mut best[..k]);
            assert_eq!(got, &all[..k], "k = {k}, logits {logits:?}");
        }
    }

    #[test]
    fn repeat_penalty_moves_greedy_off_a_recent_token() {
        let mut s = Sampler::new(SamplerConfig { temperature: 0.0, repeat_penalty: 1.5, ..Default::default() });
        let mut scratch = [Candidate::default(); 4];
        assert_eq!(s.sample(&[1.0, 3.0, 2.5, 0.0], &[1, 1], &mut scratch), Ok(2));
    }

    #[test]
    fn non_finite_logits_are_refused() {
        let mut s = Sampler::new(SamplerConfig::default());
        let mut scratch = [Candidate::default(); 4];
        assert_eq!(s.sample(&[1.0, f32::NAN, 0.0], &[], &mut scratch), Err(SampleError::NonFiniteLogit { token: 1 }));
        assert_eq!(s.sample(&[1.0; 5], &[], &mut scratch), Err(SampleError::ScratchTooSmall { needed: 5, got: 4 }));
    }
}
