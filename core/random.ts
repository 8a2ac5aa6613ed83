/**
 * The one seeded random source of the project. Initialisation, dropout, drop-path, frame sampling,
 * augmentation, point sampling and the contrastive memory bank all draw from a {@link Generator}, so two
 * runs with the same seed produce the same numbers on the same backend.
 *
 * The bit generator is xoshiro128** seeded through splitmix32: 32-bit integer arithmetic only, which is
 * exact in JavaScript, and a state of four words that a checkpoint can store and restore.
 *
 * @example
 * ```ts
 * import { Generator } from "./random.ts";
 * const g = new Generator(42);
 * const u = g.uniform(); // in [0, 1)
 * const state = g.getState();
 * const again = new Generator(0);
 * again.setState(state); // continues exactly where g is
 * ```
 * @module
 */

/** Serializable state of a {@link Generator}. */
export interface GeneratorState {
  /** The four xoshiro128** words. */
  s: [number, number, number, number];
  /** A cached second normal deviate from Box-Muller, or null. */
  spareNormal: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A seeded random number generator (xoshiro128**). */
export class Generator {
  #s = new Uint32Array(4);
  #spare: number | null = null;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Re-seeds the generator; the same seed always gives the same stream. */
  manualSeed(seed: number): this {
    if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
    // Mix the high bits in so seeds above 2^32 still differ.
    const next = splitmix32((seed >>> 0) ^ Math.floor(seed / 0x100000000));
    for (let i = 0; i < 4; i++) this.#s[i] = next();
    this.#spare = null;
    return this;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal deviate (Box-Muller, the second value cached). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** An integer uniformly drawn from [low, high) without modulo bias. */
  randint(low: number, high: number): number {
    const n = high - low;
    if (!Number.isInteger(low) || !Number.isInteger(high) || n <= 0) {
      throw new Error(`randint needs integers low < high, got [${low}, ${high})`);
    }
    if (n > 0x100000000) return low + Math.floor(this.uniform() * n);
    const limit = 0x100000000 - (0x100000000 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return low + (x % n);
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randint(0, i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** One element of `items`, uniformly. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("choice from an empty list");
    return items[this.randint(0, items.length)];
  }

  /** `k` distinct indices from [0, n), in draw order. */
  sampleWithoutReplacement(n: number, k: number): number[] {
    if (k > n) throw new Error(`cannot draw ${k} distinct values from ${n}`);
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = this.randint(i, n);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, k);
  }

  /** Fills `out` with uniform values in [low, high). */
  fillUniform(out: Float32Array | Float64Array, low = 0, high = 1): typeof out {
    const span = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + span * this.uniform();
    return out;
  }

  /** Fills `out` with normal values of the given mean and standard deviation. */
  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): typeof out {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /** A copy of the state, for checkpoints. */
  getState(): GeneratorState {
    const s = this.#s;
    return { s: [s[0], s[1], s[2], s[3]], spareNormal: this.#spare };
  }

  /** Restores a state taken with {@link Generator.getState}. */
  setState(state: GeneratorState): this {
    if (!state || !Array.isArray(state.s) || state.s.length !== 4) {
      throw new Error("generator state must have four words under 's'");
    }
    for (let i = 0; i < 4; i++) this.#s[i] = state.s[i] >>> 0;
    this.#spare = state.spareNormal ?? null;
    return this;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

const globalGenerator = new Generator(0);

/** The process-wide generator that modules draw from unless given their own. */
export function defaultGenerator(): Generator {
  return globalGenerator;
}

/** Seeds the process-wide generator (like `torch.manual_seed`). */
export function manualSeed(seed: number): Generator {
  return globalGenerator.manualSeed(seed);
}
