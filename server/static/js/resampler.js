// Streaming band-limited resampler (windowed sinc, polyphase table), used by the
// capture worklet to turn the microphone's native rate (44.1/48 kHz...) into 16 kHz.
// Pure code with no browser APIs, so it runs in an AudioWorklet and in tests alike.

const PHASES = 512; // fractional positions in the table; error < 1/1024 of a sample

function sinc(x) {
  return x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
}

export class Resampler {
  constructor(inRate, outRate, zeroCrossings = 8) {
    this.step = inRate / outRate; // input samples per output sample
    this.passthrough = inRate === outRate;
    // Low-pass at 90 % of the lower Nyquist frequency (7.2 kHz for a 16 kHz output).
    const cutoff = 0.9 * Math.min(1, outRate / inRate);
    this.half = Math.ceil(zeroCrossings / cutoff); // taps on each side, in input samples
    this.taps = 2 * this.half;
    this.table = this._buildTable(cutoff);
    // Start with `half` zeros of history so the first output lines up with input sample 0.
    this.buffer = new Float32Array(4096);
    this.length = this.half;
    this.pos = this.half; // where the next output sample falls, in buffer coordinates
  }

  _buildTable(cutoff) {
    const table = new Float32Array((PHASES + 1) * this.taps);
    for (let p = 0; p <= PHASES; p++) {
      const row = table.subarray(p * this.taps, (p + 1) * this.taps);
      let sum = 0;
      for (let k = 0; k < this.taps; k++) {
        const distance = p / PHASES + this.half - 1 - k; // output time minus input index
        const x = distance / this.half;
        const window = Math.abs(x) >= 1 ? 0 : 0.42 + 0.5 * Math.cos(Math.PI * x) + 0.08 * Math.cos(2 * Math.PI * x);
        row[k] = cutoff * sinc(cutoff * distance) * window;
        sum += row[k];
      }
      for (let k = 0; k < this.taps; k++) row[k] /= sum; // unity gain at DC for every phase
    }
    return table;
  }

  _append(input) {
    if (this.length + input.length > this.buffer.length) {
      const bigger = new Float32Array(2 * (this.length + input.length));
      bigger.set(this.buffer.subarray(0, this.length));
      this.buffer = bigger;
    }
    this.buffer.set(input, this.length);
    this.length += input.length;
  }

  /** Float32 samples in, Float32 samples at the output rate out (as many as the input allows). */
  process(input) {
    if (this.passthrough) return Float32Array.from(input);
    this._append(input);
    const out = [];
    const { buffer, table, taps, half } = this;
    while (Math.floor(this.pos) + half < this.length) {
      let base = Math.floor(this.pos);
      let phase = Math.round((this.pos - base) * PHASES);
      const row = phase * taps;
      const first = base - half + 1;
      let acc = 0;
      for (let k = 0; k < taps; k++) acc += buffer[first + k] * table[row + k];
      out.push(acc);
      this.pos += this.step;
    }
    // Drop history the next output no longer needs.
    const keepFrom = Math.max(0, Math.floor(this.pos) - half + 1);
    if (keepFrom > 0) {
      this.buffer.copyWithin(0, keepFrom, this.length);
      this.length -= keepFrom;
      this.pos -= keepFrom;
    }
    return Float32Array.from(out);
  }
}
