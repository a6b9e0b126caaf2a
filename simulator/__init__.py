"""Hypereal upstream simulator: fake OpenAI / Anthropic / Gemini / Fish Audio /
WaveSpeed-style endpoints speaking the real wire protocols, with fault injection.

Run with ``python -m simulator --host 127.0.0.1 --port 8100``.
"""
