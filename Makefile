# Front door for developer tasks. See README.md.
GUESTS := sma-cross rsi-reversion sma ema rsi macd bollinger atr
GUEST_FLAGS := $(foreach g,$(GUESTS),-p $(g))

.PHONY: guests
guests:
	rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
	cargo build --profile guest --target wasm32-wasip2 $(GUEST_FLAGS)
