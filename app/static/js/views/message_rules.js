// What a message may be: the reactions offered and the length the server accepts.

export const REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];
// The server's limit, in code points (an emoji is one, where a textarea's maxLength counts two).
export const TEXT_MAX = 10_000;

/** Null when `text` fits, else a sentence saying by how much it is too long. */
export function tooLong(text) {
  const length = [...text].length;
  if (length <= TEXT_MAX) return null;
  return `Too long: ${length.toLocaleString("en")} characters, the limit is ${TEXT_MAX.toLocaleString("en")}. Shorten it or send it in parts.`;
}
