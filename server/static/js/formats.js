// Transcript exports (plain text, SubRip, WebVTT) and the clock used on screen.
// The layout matches server/formats.py, so a download from the page equals the API's.

function pad(value, width) {
  return String(value).padStart(width, "0");
}

/** 3.5 -> "00:00:03,500" (SRT) or "00:00:03.500" (VTT). */
export function clock(seconds, separator) {
  let millis = Math.round(Math.max(0, seconds) * 1000);
  const hours = Math.floor(millis / 3600000);
  millis -= hours * 3600000;
  const minutes = Math.floor(millis / 60000);
  millis -= minutes * 60000;
  const secs = Math.floor(millis / 1000);
  millis -= secs * 1000;
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(secs, 2)}${separator}${pad(millis, 3)}`;
}

/** A short clock for the screen: "0:03.5", "12:07.0", "1:02:03". */
export function shortClock(seconds) {
  const tenths = Math.round(Math.max(0, seconds) * 10);
  const hours = Math.floor(tenths / 36000);
  const minutes = Math.floor((tenths % 36000) / 600);
  const secs = (tenths % 600) / 10;
  if (hours > 0) return `${hours}:${pad(minutes, 2)}:${pad(Math.floor(secs), 2)}`;
  return `${minutes}:${pad(secs.toFixed(1), 4)}`;
}

export function toText(segments) {
  const text = segments.map((s) => s.text).filter(Boolean).join(" ");
  return text ? `${text}\n` : "";
}

export function toSrt(segments) {
  return segments
    .map((s, i) => `${i + 1}\n${clock(s.start, ",")} --> ${clock(s.end, ",")}\n${s.text}\n`)
    .join("\n");
}

export function toVtt(segments) {
  const blocks = segments.map((s) => `${clock(s.start, ".")} --> ${clock(s.end, ".")}\n${s.text}\n`);
  return `WEBVTT\n\n${blocks.join("\n")}`;
}

export const EXPORTS = {
  txt: { render: toText, type: "text/plain" },
  srt: { render: toSrt, type: "application/x-subrip" },
  vtt: { render: toVtt, type: "text/vtt" },
};
