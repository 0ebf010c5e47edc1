// Microphone capture: getUserMedia -> AudioWorklet (pcm-worklet.js) -> 16 kHz s16le chunks.
export const TARGET_RATE = 16000;

export class MicError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const MESSAGES = {
  insecure:
    "The browser only allows the microphone on https:// or on localhost. " +
    "Open this page over https (start the server with --certfile/--keyfile) or on this machine.",
  denied:
    "Microphone access was denied. Allow the microphone for this site " +
    "(the icon in the address bar) and press Start dictation again.",
  "no-device": "No microphone was found. Connect one and press Start dictation again.",
  busy: "The microphone could not be started; another application may be using it.",
  unsupported: "This browser cannot record audio here (it lacks AudioWorklet). Try a current Chrome, Firefox or Safari.",
};

function micError(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return new MicError("denied", MESSAGES.denied);
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return new MicError("no-device", MESSAGES["no-device"]);
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return new MicError("busy", MESSAGES.busy);
    default:
      return new MicError("busy", `${MESSAGES.busy} (${error && error.message})`);
  }
}

/**
 * Start capturing. `onChunk(ArrayBuffer)` gets ~100 ms of 16 kHz s16le at a time,
 * `onLevel(0..1)` the loudness, `onEnded()` fires if the device goes away.
 * Resolves to {stop(): Promise<void>} (stop delivers the last partial chunk first).
 */
export async function startMic({ onChunk, onLevel, onEnded }) {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new MicError("insecure", MESSAGES.insecure);
  }
  if (!window.AudioWorkletNode) throw new MicError("unsupported", MESSAGES.unsupported);
  // Created before the first await, inside the click: browsers only let audio start from a user gesture,
  // and answering the permission prompt may take longer than the gesture counts.
  const context = new AudioContext();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
  } catch (error) {
    context.close();
    throw micError(error);
  }
  try {
    await context.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
    if (context.state === "suspended") await context.resume();
  } catch (error) {
    stream.getTracks().forEach((t) => t.stop());
    context.close();
    throw new MicError("unsupported", `${MESSAGES.unsupported} (${error.message})`);
  }
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "pcm-capture", {
    numberOfInputs: 1,
    numberOfOutputs: 1, // connected to the (silent) output so the graph keeps pulling it
    channelCount: 1,
    channelCountMode: "explicit",
    processorOptions: { targetRate: TARGET_RATE, chunkMs: 100 },
  });
  let flushed = null;
  node.port.onmessage = ({ data }) => {
    if (data.pcm && data.pcm.byteLength) onChunk(data.pcm);
    if (data.level !== undefined) onLevel(data.level);
    if (data.flushed && flushed) flushed();
  };
  source.connect(node);
  node.connect(context.destination);
  const [track] = stream.getAudioTracks();
  track.addEventListener("ended", () => onEnded && onEnded());

  return {
    sampleRate: context.sampleRate,
    label: track.label,
    async stop() {
      await new Promise((resolve) => {
        flushed = resolve;
        node.port.postMessage("flush");
        setTimeout(resolve, 500); // never hang on a stopped audio thread
      });
      source.disconnect();
      node.disconnect();
      stream.getTracks().forEach((t) => t.stop());
      await context.close();
      onLevel(0);
    },
  };
}
