export function mount(ctx) {}
