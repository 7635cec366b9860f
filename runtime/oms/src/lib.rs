//! Order management: order state machine, positions, cash, realised and unrealised P&L, commissions and closed trades.
