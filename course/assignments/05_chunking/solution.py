"""Assignment 5: sliding-window chunking of a long text, keeping each chunk's character offsets."""


def sliding_window_chunks(text, size, stride):
    """Windows of ``size`` characters every ``stride`` characters; the last window ends at len(text).
    Returns a list of (start, end, chunk) with text[start:end] == chunk. Raises ValueError unless
    0 < stride <= size."""
    # BEGIN SOLUTION
    if not 0 < stride <= size:
        raise ValueError("need 0 < stride <= size")
    if not text:
        return []
    chunks, start = [], 0
    while True:
        end = min(start + size, len(text))
        chunks.append((start, end, text[start:end]))
        if end == len(text):
            return chunks
        start += stride
    # END SOLUTION
