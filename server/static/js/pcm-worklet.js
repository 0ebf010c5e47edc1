// AudioWorklet: microphone audio at the device rate -> 16 kHz mono s16le chunks.
// Posts {pcm: ArrayBuffer, level: 0..1} to the page every `chunkMs`; on "flush" it
// posts what it holds, then {flushed: true}, and stops.
import { Resampler } from "./resampler.js";

const FLOOR_DB = -60; // the level meter shows -60..0 dBFS

class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate = 16000, chunkMs = 100 } = options.processorOptions || {};
    this.resampler = new Resampler(sampleRate, targetRate);
    this.chunk = new Int16Array(Math.round((targetRate * chunkMs) / 1000));
    this.fill = 0;
    this.sumSquares = 0;
    this.count = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data === "flush") {
        this.post();
        this.port.postMessage({ flushed: true });
        this.running = false;
      }
    };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!this.running) return false;
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) this.sumSquares += channel[i] * channel[i];
    this.count += channel.length;
    const samples = this.resampler.process(channel);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      this.chunk[this.fill++] = s < 0 ? s * 32768 : s * 32767;
      if (this.fill === this.chunk.length) this.post();
    }
    return true;
  }

  post() {
    const rms = this.count ? Math.sqrt(this.sumSquares / this.count) : 0;
    const db = rms > 0 ? 20 * Math.log10(rms) : FLOOR_DB;
    const level = Math.max(0, Math.min(1, (db - FLOOR_DB) / -FLOOR_DB));
    const pcm = this.chunk.slice(0, this.fill).buffer;
    this.port.postMessage({ pcm, level }, [pcm]);
    this.fill = 0;
    this.sumSquares = 0;
    this.count = 0;
  }
}

registerProcessor("pcm-capture", PcmCapture);
